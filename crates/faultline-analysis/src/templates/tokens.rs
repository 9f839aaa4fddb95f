//! Tokens and the values among them: a message split at whitespace, its values masked as `<*>`
//! before it is routed (numbers, ids, addresses, hex, dates, durations, the values of named
//! settings), so that a variable anywhere in a line does not scatter its event.

use super::WILDCARD;
use std::borrow::Cow;

/// Whether a token is a value rather than a word: a number, an address, an id.
pub fn is_variable(token: &str) -> bool {
    if token.is_ascii() {
        is_variable_ascii(token.as_bytes())
    } else {
        is_variable_chars(token)
    }
}

/// [`is_variable`] char by char, for any token.
fn is_variable_chars(token: &str) -> bool {
    let (mut digits, mut alnum) = (0usize, 0usize);
    for c in token.chars() {
        if c.is_ascii_digit() {
            digits += 1;
        }
        if c.is_alphanumeric() {
            alnum += 1;
        }
    }
    if digits == 0 {
        return false;
    }
    let hex =
        token.strip_prefix("0x").is_some_and(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit()));
    hex || digits * 10 >= alnum * 3 || token.split(|c: char| !c.is_alphanumeric()).any(is_value_segment)
}

/// [`is_variable`] in one pass over an ASCII token's bytes (the common case; the miner's hot path).
fn is_variable_ascii(token: &[u8]) -> bool {
    let (mut digits, mut alnum, mut value_piece) = (0usize, 0usize, false);
    let (mut len, mut piece_digits, mut piece_hex) = (0usize, 0usize, true);
    for &c in token.iter().chain(std::iter::once(&b' ')) {
        if c.is_ascii_alphanumeric() {
            alnum += 1;
            len += 1;
            if c.is_ascii_digit() {
                digits += 1;
                piece_digits += 1;
            }
            piece_hex &= c.is_ascii_hexdigit();
        } else {
            value_piece |= len > 0 && value_segment_counts(len, piece_digits, piece_hex);
            (len, piece_digits, piece_hex) = (0, 0, true);
        }
    }
    if digits == 0 {
        return false;
    }
    let hex = token.strip_prefix(b"0x").is_some_and(|h| !h.is_empty() && h.iter().all(u8::is_ascii_hexdigit));
    hex || digits * 10 >= alnum * 3 || value_piece
}

/// Shortest run of digits that makes a piece of a token a value (a port, a pid, a count): one or
/// two digits are as often part of a name (`HTTP/1.1`, `v2`, `ipv6`).
const MIN_NUMBER_DIGITS: usize = 3;
/// Shortest hexadecimal piece (with a digit in it) that makes a token a value (an id or a hash):
/// Java prints object identities as seven or eight hex digits (`AppWindowToken{9f4ef63`), six one
/// time in 256; shorter ones are words and codes (`cafe`, `add`, `ext4`). Eight split every
/// Android-style line on its object ids; six and seven left the eight Loghub sets unchanged.
const MIN_HEX_DIGITS: usize = 6;

/// A piece of a token (between punctuation) that is a value: a number of `MIN_NUMBER_DIGITS` digits
/// or more, or a hexadecimal id of `MIN_HEX_DIGITS` or more with digits in it. It makes the whole
/// token a value: `host:5070`, `/v2/54fadb412c4e40cdbaed9335e4c35a9e/servers/detail`.
fn is_value_segment(seg: &str) -> bool {
    let digits = seg.bytes().filter(u8::is_ascii_digit).count();
    value_segment_counts(seg.len(), digits, seg.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// [`is_value_segment`] from a piece's length, digits and whether it is all hexadecimal.
fn value_segment_counts(len: usize, digits: usize, all_hex: bool) -> bool {
    (digits == len && digits >= MIN_NUMBER_DIGITS) || (len >= MIN_HEX_DIGITS && digits > 0 && all_hex)
}

/// Whether a token has a digit: such a token routes a new group through the `<*>` branch (as in
/// Drain), so that names with numbers in them (`node-39.example.com`, `MSRA-SA-41`) do not give
/// each value a branch of its own; the template still compares the token itself.
pub(super) fn has_digit(tok: &str) -> bool {
    tok.bytes().any(|b| b.is_ascii_digit())
}

/// The key of a `key:number` or `key=number` token (`ScheduledMaps:9`, `vCores:-27>`, `ask=4`):
/// counters and settings that a line reports by name. Its value is masked, its key kept.
fn numeric_pair(t: &str) -> Option<(&str, char)> {
    let at = t.bytes().rposition(|b| b == b':' || b == b'=')?;
    let (key, sep) = (&t[..at], t.as_bytes()[at] as char);
    let value = t[at + 1..].trim_end_matches(['>', ',', ';', ')', ']', '}']);
    let value = value.strip_prefix('-').unwrap_or(value);
    // After `:` the key is a plain name (`host.example.org:5070` and `my-host:80` are addresses);
    // after `=` dotted, dashed and qualified names are keys too (`db.rows=5`, `retry-count=2`,
    // `release:lock=5`).
    let word = !key.is_empty()
        && key.chars().all(|c| c.is_alphabetic() || c == '_' || (sep == '=' && matches!(c, '.' | '-' | ':')));
    let hex =
        value.strip_prefix("0x").is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()));
    let number = hex
        || (!value.is_empty()
            && value.bytes().any(|b| b.is_ascii_digit())
            && value.bytes().all(|b| b.is_ascii_digit() || b == b'.'));
    (word && number).then_some((key, sep))
}

/// A token of `key=number` pieces joined by commas or semicolons (`ready=true,policy=3,manual=42`,
/// `cancelNotification,index:3`), each piece's value masked as [`numeric_pair`] masks a token's;
/// `None` when no piece is such a pair. A line that reports several settings in one token is one
/// event whatever their values.
fn masked_pairs(t: &str) -> Option<String> {
    let pieces = || t.split_inclusive([',', ';']).map(|p| p.trim_end_matches([',', ';']));
    let inner = t.trim_end_matches([',', ';']).as_bytes();
    if !inner.iter().any(|&b| b == b',' || b == b';') || !pieces().any(|p| numeric_pair(p).is_some()) {
        return None;
    }
    let (mut out, mut changed) = (String::with_capacity(t.len()), false);
    for piece in t.split_inclusive([',', ';']) {
        let body = piece.trim_end_matches([',', ';']);
        match numeric_pair(body) {
            Some((key, sep)) => {
                out.push_str(key);
                out.push(sep);
                out.push_str(WILDCARD);
                changed = true;
            }
            None => out.push_str(body),
        }
        out.push_str(&piece[body.len()..]);
    }
    changed.then_some(out)
}

/// Splits a message into tokens, with values masked. Tokens borrow from the message; only a
/// masked `key=value` is allocated.
pub fn tokenize(msg: &str) -> Vec<Cow<'_, str>> {
    let words: Vec<&str> = if msg.is_ascii() {
        msg.split_ascii_whitespace().collect()
    } else {
        msg.split_whitespace().collect()
    };
    let mut tokens: Vec<Cow<'_, str>> = words
        .iter()
        .copied()
        .map(|t| {
            // A token without a digit is a word: no value to mask (the common case, kept quick).
            if !t.bytes().any(|b| b.is_ascii_digit()) {
                return Cow::Borrowed(t);
            }
            if let Some((key, sep)) = numeric_pair(t) {
                return Cow::Owned(format!("{key}{sep}{WILDCARD}"));
            }
            if let Some(masked) = masked_pairs(t) {
                return Cow::Owned(masked);
            }
            if is_variable(t) {
                // Keep the key of a `key=value` pair, so `retries=3` and `size=3` stay apart.
                if let Some((k, v)) = t.split_once('=') {
                    if !is_variable(k) && is_variable(v) {
                        return Cow::Owned(format!("{k}={WILDCARD}"));
                    }
                }
                Cow::Borrowed(WILDCARD)
            } else {
                Cow::Borrowed(t)
            }
        })
        .collect();
    mask_date_words(&mut tokens);
    fold_time_units(&words, &mut tokens);
    tokens
}

/// Units of time a duration is written with.
const TIME_UNITS: [&str; 17] = [
    "ns", "us", "µs", "ms", "msec", "s", "sec", "secs", "second", "seconds", "min", "mins", "minute",
    "minutes", "h", "hr", "hours",
];

/// A bound on a duration and its unit are one value: a formatter that writes `00:01` writes the
/// shortest ones `<1 sec` (Proxifier's `lifetime <*>`), and the event must not split on how many
/// tokens that took. Only after a bound (`<1`, `>30`, `~2`): a duration always written with its
/// unit (`after 30 s`) keeps the unit in its template. `words` are the message's tokens unmasked,
/// one for each of `tokens`.
fn fold_time_units(words: &[&str], tokens: &mut Vec<Cow<'_, str>>) {
    for i in (1..tokens.len()).rev() {
        let unit = words[i].trim_end_matches([',', ';', '.', ')']);
        let bound = words[i - 1].starts_with(['<', '>', '~']);
        if bound && tokens[i - 1] == WILDCARD && TIME_UNITS.contains(&unit) {
            tokens.remove(i);
        }
    }
}

/// The names of days and months, as dates spell them (`Sun Jul 10 13:28:36 2005`, `10 July`).
const DATE_WORDS: [&str; 38] = [
    "Mon",
    "Tue",
    "Wed",
    "Thu",
    "Fri",
    "Sat",
    "Sun",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
    "January",
    "February",
    "March",
    "April",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
    "Sept",
];

/// A day or month name next to a value (or to another such name next to one) is part of a date, a
/// value of several tokens: `at Thu Jul 10 13:28:36 2005` is one event whatever the day. A name
/// alone stays a word (`May I`, `Mon` as a label).
fn mask_date_words(tokens: &mut [Cow<'_, str>]) {
    loop {
        let mut changed = false;
        for i in 0..tokens.len() {
            let next_to_value =
                (i > 0 && tokens[i - 1] == WILDCARD) || tokens.get(i + 1).is_some_and(|t| t == WILDCARD);
            let word = tokens[i].trim_end_matches(',');
            let looks = (3..=9).contains(&word.len()) && word.as_bytes()[0].is_ascii_uppercase();
            if next_to_value && looks && DATE_WORDS.contains(&word) {
                tokens[i] = Cow::Borrowed(WILDCARD);
                changed = true;
            }
        }
        if !changed {
            return;
        }
    }
}

/// The key of a `key:value` or `key=value` token, separator included (`action:` of
/// `action:android.intent.action.SCREEN_ON`): a plain name, then a value.
pub(super) fn key_of(t: &str) -> Option<&str> {
    let at = t.bytes().position(|b| b == b':' || b == b'=')?;
    let name = t[..at].bytes().all(|b| b.is_ascii_alphabetic() || matches!(b, b'_' | b'-' | b'.'));
    (at > 0 && at + 1 < t.len() && name).then(|| &t[..=at])
}

/// Whether two different tokens are one setting with two values (`action:SCREEN_ON` and
/// `action:SCREEN_OFF`): the event reports a setting, whatever its value. Such a position counts
/// as a value in the similarity and becomes `key:<*>` in the template.
pub(super) fn same_key(a: &str, b: &str) -> bool {
    a != b && key_of(a).is_some_and(|k| key_of(b) == Some(k))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_reported_by_name_keep_their_name_and_lose_their_value() {
        let t = tokenize(
            "After Scheduling: ScheduledMaps:9 vCores:-27> ask=4 db.rows=5 10:30:00 node.example.org:8080",
        );
        let t: Vec<&str> = t.iter().map(|c| c.as_ref()).collect();
        let want = [
            "After",
            "Scheduling:",
            "ScheduledMaps:<*>",
            "vCores:<*>",
            "ask=<*>",
            "db.rows=<*>",
            "<*>",
            "<*>",
        ];
        assert_eq!(t, want);
    }

    #[test]
    fn settings_joined_in_one_token_lose_their_values() {
        let t = tokenize("cancelNotification,index:3 ready=true,policy=3,manual=42,sum=0x13 release:lock=5,");
        let t: Vec<&str> = t.iter().map(|c| c.as_ref()).collect();
        assert_eq!(
            t,
            ["cancelNotification,index:<*>", "ready=true,policy=<*>,manual=<*>,sum=<*>", "release:lock=<*>"]
        );
    }

    #[test]
    fn short_hex_object_ids_are_values() {
        // Java's identity hash codes are seven or eight hex digits (`AppWindowToken{9f4ef63`).
        assert!(is_variable("AppWindowToken{9f4ef63") && is_variable("c23cbf"));
        assert!(!is_variable("add") && !is_variable("deadbeef"));
    }

    #[test]
    fn values_are_masked() {
        assert!(is_variable("42") && is_variable("0xdeadbeef") && is_variable("blk_-1608999687919862906"));
        assert!(is_variable("10.0.0.1:80") && !is_variable("user1") && !is_variable("error"));
        assert_eq!(tokenize("retries=300 status ok"), vec!["retries=<*>", "status", "ok"]);
    }

    proptest::proptest! {
        /// The one-pass test of ASCII tokens agrees with the char-by-char one.
        #[test]
        fn the_ascii_value_test_agrees_with_the_general_one(t in "[a-fA-Z0-9x:=._/{}-]{0,24}") {
            proptest::prop_assert_eq!(is_variable_ascii(t.as_bytes()), is_variable_chars(&t));
        }
    }
}
