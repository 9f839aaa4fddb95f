//! A streaming log template miner in the manner of Drain (He et al., ICWS 2017): a fixed-depth
//! prefix tree routes each message by its length and first tokens to a few candidate groups, and
//! the message joins the most similar group (turning the tokens that differ into `<*>`) or starts
//! a new one. One default configuration serves all logs.
//!
//! Before routing, values (numbers, ids, addresses, hex, dates, durations, settings' values) become
//! `<*>` (`tokens.rs`), so that variable first tokens do not scatter one event over many branches.

mod tokens;

use crate::hash::HashMap;
use std::borrow::Cow;
use tokens::{has_digit, key_of, same_key};
pub use tokens::{is_variable, tokenize};

pub const WILDCARD: &str = "<*>";
/// Most groups the leaves a message routes to may hold before it must join one of them: bounds
/// the work per message (each is compared with them all) and the groups an endless variety of
/// one event can make.
pub const MAX_GROUPS_PER_LEAF: usize = 200;
/// Most templates one miner holds: beyond it, every message joins its most similar group, so
/// memory stays bounded however long a server mines.
pub const MAX_TEMPLATES: usize = 20_000;

/// The miner's settings. The defaults are the ones faultline uses everywhere.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// Tree depth, counting the root and the length level: `depth - 2` leading tokens route.
    pub depth: usize,
    /// A message joins a group when at least this share of its tokens match the group's template.
    pub similarity: f64,
    /// Most children of one tree node; further tokens route to the `<*>` child.
    pub max_children: usize,
}

impl Default for Config {
    fn default() -> Self {
        // Chosen by leave-one-out on the eight Loghub sets in shared/data (docs/benchmarks.md).
        Config { depth: 4, similarity: 0.7, max_children: 100 }
    }
}

/// One group of messages and its template.
#[derive(Debug, Clone)]
pub struct Template {
    pub id: usize,
    pub tokens: Vec<String>,
    pub count: u64,
}

impl Template {
    pub fn text(&self) -> String {
        self.tokens.join(" ")
    }

    /// `t17`, as the templates command prints it.
    pub fn label(&self) -> String {
        format!("t{}", self.id)
    }
}

#[derive(Debug, Default)]
struct TreeNode {
    children: HashMap<String, TreeNode>,
    groups: Vec<usize>,
}

#[derive(Debug, Default)]
pub struct Miner {
    config: Config,
    root: HashMap<usize, TreeNode>,
    templates: Vec<Template>,
}

impl Miner {
    pub fn new(config: Config) -> Miner {
        Miner { config, ..Miner::default() }
    }

    pub fn templates(&self) -> &[Template] {
        &self.templates
    }

    pub fn template(&self, id: usize) -> &Template {
        &self.templates[id - 1]
    }

    /// Adds a message; returns the id of the group it joined (1-based).
    pub fn add(&mut self, msg: &str) -> usize {
        let tokens = tokenize(msg);
        let cfg = self.config;
        // The most similar group in the leaves the message routes to (its own tokens, or `<*>`,
        // at each level: a line seen before finds its group whatever the tree grew since).
        let mut leaves = Vec::new();
        self.leaves(&tokens, &mut leaves);
        let mut best: Option<(f64, usize, usize)> = None;
        let mut in_leaves = 0usize;
        for node in &leaves {
            in_leaves += node.groups.len();
            for &g in &node.groups {
                let t = &self.templates[g - 1];
                let (sim, params) = similarity(&t.tokens, &tokens);
                // A message that fits a template (every word of it in place) is one of its lines,
                // however many values the template has: a line seen before lands on its template.
                let sim = if fits(&t.tokens, &tokens) { sim.max(cfg.similarity) } else { sim };
                if best.is_none_or(|b| sim > b.0 || (sim == b.0 && params < b.1)) {
                    best = Some((sim, params, g));
                }
            }
        }
        // Memory stays bounded: past the caps a message joins its most similar group.
        let full = in_leaves >= MAX_GROUPS_PER_LEAF || self.templates.len() >= MAX_TEMPLATES;
        match best {
            Some((sim, _, g)) if sim >= needed_similarity(cfg.similarity, tokens.len()) || full => {
                let t = &mut self.templates[g - 1];
                for (a, b) in t.tokens.iter_mut().zip(&tokens) {
                    if a != b && a != WILDCARD {
                        *a = match key_of(a).filter(|_| same_key(a, b)) {
                            Some(key) => format!("{key}{WILDCARD}"),
                            None => WILDCARD.to_string(),
                        };
                    }
                }
                t.count += 1;
                g
            }
            _ => {
                let id = self.templates.len() + 1;
                let tokens: Vec<String> = tokens.into_iter().map(Cow::into_owned).collect();
                self.templates.push(Template { id, tokens, count: 1 });
                let node = self.route_mut_for_new(id);
                node.groups.push(id);
                id
            }
        }
    }

    /// The leaves a message's tokens route to: at each level its own token's child and the `<*>`
    /// child.
    fn leaves<'a>(&'a self, tokens: &[Cow<'_, str>], out: &mut Vec<&'a TreeNode>) {
        let Some(root) = self.root.get(&tokens.len()) else { return };
        let depth = self.config.depth.saturating_sub(2).min(tokens.len());
        let mut level = vec![root];
        for tok in &tokens[..depth] {
            let mut next = Vec::with_capacity(level.len() * 2);
            let keyed = key_of(tok).map(|k| format!("{k}{WILDCARD}"));
            for node in level {
                if let Some(n) = node.children.get(tok.as_ref()) {
                    next.push(n);
                }
                if let Some(n) = keyed.as_deref().filter(|k| k != tok).and_then(|k| node.children.get(k)) {
                    next.push(n);
                }
                if tok != WILDCARD {
                    if let Some(n) = node.children.get(WILDCARD) {
                        next.push(n);
                    }
                }
            }
            level = next;
        }
        out.extend(level);
    }

    /// The leaf for a new group's tokens, creating the path (a token past `max_children`, or a
    /// value, takes the `<*>` branch).
    fn route_mut_for_new(&mut self, id: usize) -> &mut TreeNode {
        let tokens = self.templates[id - 1].tokens.clone();
        let (depth, max_children) = (self.config.depth, self.config.max_children);
        let mut node = self.root.entry(tokens.len()).or_default();
        for tok in tokens.iter().take(depth.saturating_sub(2)) {
            let key = if node.children.contains_key(tok.as_str()) {
                tok.clone()
            } else if tok == WILDCARD || has_digit(tok) || node.children.len() + 1 >= max_children {
                WILDCARD.to_string()
            } else if let Some(k) = key_of(tok) {
                // A setting routes by its name: its values meet in one leaf (`same_key`).
                format!("{k}{WILDCARD}")
            } else {
                tok.clone()
            };
            node = node.children.entry(key).or_default();
        }
        node
    }
}

/// The similarity a message of `n` tokens needs to join a group: the configured share, or one
/// token in `n` differing, whichever is less. A message routes by its first tokens, so a
/// difference past them in a short line is a value (`onReceive action: <*>`): with three tokens,
/// one value is a third of the line, and a share of 0.7 would split the event on every value.
fn needed_similarity(similarity: f64, n: usize) -> f64 {
    if n < MIN_TOKENS_ONE_VALUE {
        return similarity;
    }
    similarity.min((n - 1) as f64 / n as f64)
}

/// Fewest tokens for one differing token to be a value in any case: in a line of two, one word is
/// half the event (`flush sensor` against `flush cache`).
const MIN_TOKENS_ONE_VALUE: usize = 3;

/// Weight of a template's wildcard position in the similarity: half a match. Counted as a full
/// match, a template that lost most of its words would take in any message of its length; counted
/// as none (Drain), a template with many values stops taking in even the lines it was made from.
/// With one half, a message that matches every word of a template is always at least 0.5 similar.
const WILDCARD_WEIGHT: f64 = 0.5;

/// Share of positions where the template's token equals the message's (a wildcard counts
/// `WILDCARD_WEIGHT`), and the number of wildcards, for tie-breaking.
fn similarity(template: &[String], tokens: &[Cow<'_, str>]) -> (f64, usize) {
    if template.len() != tokens.len() || tokens.is_empty() {
        return (0.0, 0);
    }
    let (mut same, mut params) = (0usize, 0usize);
    for (a, b) in template.iter().zip(tokens) {
        if a == WILDCARD || same_key(a, b) {
            params += 1;
        } else if a.as_str() == b.as_ref() {
            same += 1;
        }
    }
    ((same as f64 + WILDCARD_WEIGHT * params as f64) / tokens.len() as f64, params)
}

/// Whether every word of a template is in its place in the message.
/// A template of values only fits only messages of values only: it would take in every line of
/// its length.
fn fits(template: &[String], tokens: &[Cow<'_, str>]) -> bool {
    template.len() == tokens.len()
        && (template.iter().any(|a| a != WILDCARD) || tokens.iter().all(|b| b == WILDCARD))
        && template.iter().zip(tokens).all(|(a, b)| {
            a == WILDCARD || a.as_str() == b.as_ref() || (a.ends_with(WILDCARD) && same_key(a, b))
        })
}

/// Grouping accuracy: the share of lines whose group holds exactly the lines of their true group.
pub fn grouping_accuracy(found: &[usize], truth: &[String]) -> f64 {
    assert_eq!(found.len(), truth.len());
    let mut by_found: HashMap<usize, Vec<usize>> = HashMap::default();
    let mut by_truth: HashMap<&str, Vec<usize>> = HashMap::default();
    for (i, (&f, t)) in found.iter().zip(truth).enumerate() {
        by_found.entry(f).or_default().push(i);
        by_truth.entry(t.as_str()).or_default().push(i);
    }
    let mut correct = 0usize;
    for lines in by_truth.values() {
        let f = found[lines[0]];
        if by_found[&f] == *lines {
            correct += lines.len();
        }
    }
    correct as f64 / found.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_numbers_do_not_split_an_event() {
        let mut m = Miner::new(Config::default());
        let a = m.add("Resolved MSRA-SA-39.fareast.corp.microsoft.com to /default-rack");
        let b = m.add("Resolved 04DN8IQ.fareast.corp.microsoft.com to /default-rack");
        let c = m.add("Resolved MININT-FNANLI5.fareast.corp.microsoft.com to /default-rack");
        assert_eq!((a, b), (b, c));
        assert_eq!(m.template(a).text(), "Resolved <*> to /default-rack");
    }

    #[test]
    fn groups_messages_that_differ_in_values() {
        let mut m = Miner::new(Config::default());
        let a = m.add("Connection to 10.0.0.1:5432 timed out after 30 s");
        let b = m.add("Connection to 10.0.0.2:5432 timed out after 31 s");
        let c = m.add("Login succeeded for alice");
        let d = m.add("Login succeeded for bob");
        let e = m.add("Disk full on /var");
        assert_eq!(a, b);
        assert_eq!(c, d);
        assert_ne!(a, c);
        assert_ne!(e, c);
        assert_eq!(m.template(a).text(), "Connection to <*> timed out after <*> s");
        assert_eq!(m.template(c).text(), "Login succeeded for <*>");
        assert_eq!(m.template(c).label(), format!("t{c}"));
    }

    #[test]
    fn a_duration_bound_and_its_unit_are_one_value() {
        let mut m = Miner::new(Config::default());
        let a = m.add("www.example.com:443 close, 120 bytes sent, 80 bytes received, lifetime 00:01");
        let b = m.add("www.example.com:443 close, 560 bytes sent, 90 bytes received, lifetime <1 sec");
        assert_eq!(a, b);
        // A unit written every time stays in the template.
        let c = m.add("retry after 30 s");
        assert_eq!(m.template(c).text(), "retry after <*> s");
    }

    #[test]
    fn one_setting_with_two_values_is_one_event() {
        // The setting is the line's second token, a routing one: its values must meet in one leaf.
        let mut m = Miner::new(Config::default());
        let a = m.add("processHandleBroadcastAction action:android.intent.action.SCREEN_ON");
        let b = m.add("processHandleBroadcastAction action:android.intent.action.SCREEN_OFF");
        assert_eq!(a, b);
        assert_eq!(m.template(a).text(), "processHandleBroadcastAction action:<*>");
        // A line seen before still lands on it.
        assert_eq!(m.add("processHandleBroadcastAction action:android.intent.action.SCREEN_ON"), a);
        // Two words that are not one setting's values stay apart.
        assert_ne!(m.add("flush sensor"), m.add("flush cache"));
    }

    #[test]
    fn dates_are_values_whatever_their_day() {
        let mut m = Miner::new(Config::default());
        let a = m.add("connection from 10.1.2.3 () at Sun Jul 10 13:28:36 2005");
        let b = m.add("connection from 10.1.2.9 () at Wed Jul 13 02:01:09 2005");
        assert_eq!(a, b);
        // A day's name alone is a word.
        assert_eq!(tokenize("Sun rises")[0], "Sun");
    }

    #[test]
    fn a_variable_first_token_does_not_split_an_event() {
        let mut m = Miner::new(Config::default());
        let a = m.add("proxy.example.org:5070 open through proxy proxy.example.org:5070 HTTPS");
        let b = m.add("www.example.com:443 open through proxy proxy.example.org:5070 HTTPS");
        assert_eq!(a, b);
        let c = m.add(r#"10.11.10.1 "GET /v2/54fadb412c4e40cdbaed9335e4c35a9e/servers/detail HTTP/1.1" status: 200 len: 1893 time: 0.2477829"#);
        let d = m.add(r#"10.11.10.9 "GET /v2/e9746973ac574c6b8a9e8857f56a7608/servers/detail HTTP/1.1" status: 200 len: 1910 time: 0.2802730"#);
        assert_eq!(c, d);
    }

    proptest::proptest! {
        /// Fed many times over, a corpus makes no new templates, and every line lands on the
        /// template it landed on the first time.
        #[test]
        fn a_line_seen_before_lands_on_its_template(
            lines in proptest::collection::vec("[a-c]{1,2}( [a-c0-9:=.]{1,4}){0,5}", 1..60)
        ) {
            let mut m = Miner::new(Config::default());
            let first: Vec<usize> = lines.iter().map(|l| m.add(l)).collect();
            let n = m.templates().len();
            for _ in 0..5 {
                let again: Vec<usize> = lines.iter().map(|l| m.add(l)).collect();
                proptest::prop_assert_eq!(m.templates().len(), n);
                for (k, (a, b)) in first.iter().zip(&again).enumerate() {
                    // A line may move to a group that took in its first group's lines only if its
                    // template is still one that fits it.
                    proptest::prop_assert!(a == b || fits(&m.template(*b).tokens, &tokenize(&lines[k])));
                }
            }
        }
    }

    #[test]
    fn accuracy() {
        let truth: Vec<String> = ["a", "a", "b", "c"].iter().map(|s| s.to_string()).collect();
        assert_eq!(grouping_accuracy(&[1, 1, 2, 3], &truth), 1.0);
        assert_eq!(grouping_accuracy(&[1, 1, 1, 3], &truth), 0.25);
    }
}
