//! Loghub template mining: faultline's miner beside Python drain3 (its default configuration, as
//! one default is what faultline uses) on the same lines, in the same run.

use anyhow::Context;
use faultline_analysis::templates::{grouping_accuracy, Config, Miner};
use std::io::Write;
use std::path::Path;
use std::time::Instant;

/// Times one miner is fed each set for the figure of speed and growth over volume.
const FED_OVER: usize = 50;

const DRAIN3: &str = r#"
import sys, time, json
from drain3 import TemplateMiner
from drain3.template_miner_config import TemplateMinerConfig
lines = sys.stdin.read().split("\n")[:-1]
repeat = int(sys.argv[1])
cfg = TemplateMinerConfig()
cfg.profiling_enabled = False
m = TemplateMiner(config=cfg)
ids = [m.add_log_message(l)["cluster_id"] for l in lines]
t = time.perf_counter()
for _ in range(repeat):
    m2 = TemplateMiner(config=cfg)
    for l in lines:
        m2.add_log_message(l)
el = time.perf_counter() - t
print(json.dumps({"ids": ids, "seconds": el}))
"#;

fn load(dir: &Path) -> anyhow::Result<Option<(Vec<String>, Vec<String>)>> {
    let Some(csv) = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with("_structured.csv"))
    else {
        return Ok(None);
    };
    let mut r = csv::Reader::from_path(&csv).with_context(|| format!("reading {}", csv.display()))?;
    let h = r.headers()?.clone();
    let col =
        |n: &str| h.iter().position(|x| x == n).with_context(|| format!("{}: no column {n}", csv.display()));
    let (content, event) = (col("Content")?, col("EventId")?);
    let (mut lines, mut truth) = (Vec::new(), Vec::new());
    for rec in r.records() {
        let rec = rec?;
        lines.push(rec[content].to_string());
        truth.push(rec[event].to_string());
    }
    Ok(Some((lines, truth)))
}

fn drain3(python: &str, lines: &[String], repeat: usize) -> Option<(Vec<usize>, f64)> {
    let mut child = std::process::Command::new(python)
        .args(["-c", DRAIN3, &repeat.to_string()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    {
        let mut stdin = child.stdin.take()?;
        for l in lines {
            writeln!(stdin, "{}", l.replace('\n', " ")).ok()?;
        }
    }
    let out = child.wait_with_output().ok()?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    let ids = v["ids"].as_array()?.iter().map(|x| x.as_u64().unwrap_or(0) as usize).collect();
    Some((ids, v["seconds"].as_f64()?))
}

pub fn run(data: &Path, python: &str, repeat: usize) -> anyhow::Result<()> {
    let python = python.replacen('~', &std::env::var("HOME").unwrap_or_default(), 1);
    let mut dirs: Vec<_> = std::fs::read_dir(data)
        .with_context(|| format!("reading {}", data.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    println!(
        "{:<10} {:>6} {:>10} {:>14} {:>10} {:>14} {:>10} {:>14} {:>16}",
        "dataset",
        "lines",
        "GA",
        "lines/s",
        "drain3 GA",
        "drain3 lines/s",
        "published",
        "fed 50x lines/s",
        "templates 1x->50x"
    );
    let published = |n: &str| match n {
        "Apache" => "1.000",
        "BGL" => "0.963",
        "HDFS" => "0.998",
        "Hadoop" => "0.948",
        "HPC" => "0.887",
        "OpenSSH" => "0.788",
        "Spark" => "0.920",
        "Zookeeper" => "0.967",
        _ => "-",
    };
    let (mut sum_ga, mut sum_d, mut n) = (0.0, 0.0, 0usize);
    let (mut our_lines, mut our_secs, mut d_secs) = (0usize, 0.0f64, 0.0f64);
    let mut sets = Vec::new();
    for dir in dirs {
        let Some((lines, truth)) = load(&dir)? else { continue };
        let name = dir.file_name().unwrap_or_default().to_string_lossy().to_string();
        let mut m = Miner::new(Config::default());
        let ids: Vec<usize> = lines.iter().map(|l| m.add(l)).collect();
        let ga = grouping_accuracy(&ids, &truth);
        let t = Instant::now();
        for _ in 0..repeat {
            let mut m = Miner::new(Config::default());
            for l in &lines {
                std::hint::black_box(m.add(l));
            }
        }
        let secs = t.elapsed().as_secs_f64();
        let rate = (lines.len() * repeat) as f64 / secs;
        // One miner fed the set 50 times over: a line seen before lands on its template, so the
        // templates do not grow, and the speed holds.
        let mut m50 = Miner::new(Config::default());
        let t50 = Instant::now();
        for _ in 0..FED_OVER {
            for l in &lines {
                std::hint::black_box(m50.add(l));
            }
        }
        let rate50 = (lines.len() * FED_OVER) as f64 / t50.elapsed().as_secs_f64();
        let growth = (m.templates().len(), m50.templates().len());
        our_lines += lines.len() * repeat;
        our_secs += secs;
        let (dga, drate) = match drain3(&python, &lines, repeat) {
            Some((d, s)) => {
                d_secs += s;
                sum_d += grouping_accuracy(&d, &truth);
                (
                    format!("{:.3}", grouping_accuracy(&d, &truth)),
                    format!("{:.0}", (lines.len() * repeat) as f64 / s),
                )
            }
            None => ("-".into(), "-".into()),
        };
        sum_ga += ga;
        n += 1;
        sets.push((name.clone(), lines.clone(), truth.clone()));
        println!(
            "{name:<10} {:>6} {ga:>10.3} {rate:>14.0} {dga:>10} {drate:>14} {:>10} {rate50:>14.0} {:>6} -> {:<6}",
            lines.len(),
            published(&name),
            growth.0,
            growth.1
        );
    }
    if n > 0 {
        println!(
            "{:<10} {:>6} {:>10.3} {:>14.0} {:>10.3} {:>14.0}",
            "mean",
            "",
            sum_ga / n as f64,
            our_lines as f64 / our_secs,
            sum_d / n as f64,
            if d_secs > 0.0 { our_lines as f64 / d_secs } else { 0.0 }
        );
    }
    leave_one_out(&sets);
    Ok(())
}

/// The configurations leave-one-out chooses among: the default's neighbours in each setting.
fn grid() -> Vec<Config> {
    let mut v = Vec::new();
    for depth in [3, 4, 5] {
        for similarity in [0.5, 0.6, 0.65, 0.7] {
            v.push(Config { depth, similarity, ..Config::default() });
        }
    }
    v
}

fn accuracy_with(c: Config, lines: &[String], truth: &[String]) -> f64 {
    let mut m = Miner::new(c);
    let ids: Vec<usize> = lines.iter().map(|l| m.add(l)).collect();
    grouping_accuracy(&ids, truth)
}

/// Leave-one-out: each set is scored by the configuration that is best on the other sets, so the
/// headline figure is on logs the configuration was not chosen with.
fn leave_one_out(sets: &[(String, Vec<String>, Vec<String>)]) {
    if sets.len() < 2 {
        return;
    }
    let grid = grid();
    let ga: Vec<Vec<f64>> =
        grid.iter().map(|&c| sets.iter().map(|(_, l, t)| accuracy_with(c, l, t)).collect()).collect();
    println!("\nconfigurations (GA per set, in the order above):");
    for (c, g) in grid.iter().zip(&ga) {
        let cells: String = g.iter().map(|x| format!(" {x:.3}")).collect();
        println!(
            "  depth {} similarity {:.2}: mean {:.3} |{cells}",
            c.depth,
            c.similarity,
            g.iter().sum::<f64>() / g.len() as f64
        );
    }
    println!("\nleave-one-out (each set scored by the configuration best on the others):");
    let mut sum = 0.0;
    for (k, (name, _, _)) in sets.iter().enumerate() {
        let others =
            |g: &Vec<f64>| g.iter().enumerate().filter(|(j, _)| *j != k).map(|(_, x)| x).sum::<f64>();
        // Among configurations equally good on the others, the default (what ships): a tie is no
        // reason to change it.
        let default = grid
            .iter()
            .position(|c| c.depth == Config::default().depth && c.similarity == Config::default().similarity);
        let top = (0..grid.len()).map(|a| others(&ga[a])).fold(f64::MIN, f64::max);
        let best = default
            .filter(|&d| others(&ga[d]) >= top)
            .or_else(|| (0..grid.len()).max_by(|&a, &b| others(&ga[a]).total_cmp(&others(&ga[b]))))
            .unwrap_or(0);
        let c = grid[best];
        sum += ga[best][k];
        println!("  {name:<10} {:.3}  (depth {}, similarity {})", ga[best][k], c.depth, c.similarity);
    }
    println!("  {:<10} {:.3}", "mean", sum / sets.len() as f64);
}
