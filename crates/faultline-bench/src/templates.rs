//! Loghub template mining: faultline's miner beside Python drain3 (its default configuration, as
//! one default is what faultline uses) on the same lines, in the same run.

use anyhow::Context;
use faultline_analysis::templates::{grouping_accuracy, Config, Miner};
use std::io::Write;
use std::path::Path;
use std::time::Instant;

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
        "{:<10} {:>6} {:>10} {:>14} {:>10} {:>14} {:>10}",
        "dataset", "lines", "GA", "lines/s", "drain3 GA", "drain3 lines/s", "published"
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
        println!(
            "{name:<10} {:>6} {ga:>10.3} {rate:>14.0} {dga:>10} {drate:>14} {:>10}",
            lines.len(),
            published(&name)
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
    Ok(())
}
