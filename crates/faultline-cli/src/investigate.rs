//! `faultline investigate`, `faultline postmortem` and `faultline templates`.

use crate::args::{
    DiffArgs, Format, InvestigateArgs, InvestigationArgs, PostmortemArgs, ReportFormat, SourceArgs,
    TemplatesArgs, VerifyArgs,
};
use crate::query::{query_string, Backend};
use anyhow::Context;
use base64::Engine;
use faultline_analysis::report::{render_text, Report};
use faultline_analysis::templates::{Config, Miner};
use serde_json::Value;
use std::io::{BufRead, IsTerminal, Write};

/// Runs the investigation where the data is (in-process over the data directory, or on a server).
pub async fn fetch(a: &InvestigationArgs) -> anyhow::Result<Value> {
    let src = SourceArgs { data_dir: a.data_dir.clone(), server: a.server.clone(), format: Format::Json };
    let b = Backend::open(&src).await?;
    let q = query_string(&[
        ("from", a.from.clone()),
        ("to", a.to.clone()),
        ("baseline", a.baseline.clone()),
        ("lookback", Some(a.lookback.clone())),
        ("top", Some(a.top.to_string())),
    ]);
    b.get(&format!("/api/v1/investigate{q}")).await
}

fn colour() -> bool {
    std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal()
}

fn data_uri(svg: &str) -> String {
    format!("data:image/svg+xml;base64,{}", base64::engine::general_purpose::STANDARD.encode(svg))
}

pub fn print_report(v: &Value, format: ReportFormat) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match format {
        ReportFormat::Json => {
            serde_json::to_writer_pretty(&mut out, v)?;
            writeln!(out)?;
        }
        ReportFormat::Text => {
            let r: Report = serde_json::from_value(v.clone()).context("reading the report")?;
            out.write_all(render_text(&r, colour()).as_bytes())?;
        }
        ReportFormat::Markdown => {
            let r: Report = serde_json::from_value(v.clone()).context("reading the report")?;
            let md = faultline_analysis::postmortem::render_markdown(&r, &|_, svg| data_uri(svg));
            out.write_all(md.as_bytes())?;
        }
    }
    Ok(())
}

pub async fn investigate(a: InvestigateArgs) -> anyhow::Result<()> {
    let v = fetch(&a.what).await?;
    print_report(&v, a.format)
}

pub async fn postmortem(a: PostmortemArgs) -> anyhow::Result<()> {
    let v = fetch(&a.what).await?;
    let r: Report = serde_json::from_value(v).context("reading the report")?;
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    for (file, _, svg) in faultline_analysis::postmortem::charts(&r) {
        std::fs::write(a.out.join(&file), svg).with_context(|| format!("writing {file}"))?;
    }
    let md = faultline_analysis::postmortem::render_markdown(&r, &|file, _| file.to_string());
    let path = a.out.join("postmortem.md");
    std::fs::write(&path, md).with_context(|| format!("writing {}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}

pub fn templates(a: TemplatesArgs) -> anyhow::Result<()> {
    let mut miner = Miner::new(Config::default());
    let mut groups: Vec<usize> = Vec::new();
    let mut read = |r: &mut dyn BufRead| -> anyhow::Result<()> {
        let mut buf = Vec::new();
        loop {
            buf.clear();
            if r.read_until(b'\n', &mut buf)? == 0 {
                return Ok(());
            }
            let line = String::from_utf8_lossy(&buf);
            groups.push(miner.add(line.trim_end_matches(['\n', '\r'])));
        }
    };
    let stdin_only = a.files.is_empty() || a.files.iter().all(|f| f.as_os_str() == "-");
    if stdin_only {
        read(&mut std::io::stdin().lock())?;
    } else {
        for f in &a.files {
            if f.as_os_str() == "-" {
                read(&mut std::io::stdin().lock())?;
                continue;
            }
            let file = std::fs::File::open(f).with_context(|| format!("opening {}", f.display()))?;
            read(&mut std::io::BufReader::new(file))?;
        }
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match a.format {
        Format::Json => {
            for (k, &g) in groups.iter().enumerate() {
                let t = miner.template(g);
                let v = serde_json::json!({"line": k + 1, "template_id": t.label(), "template": t.text()});
                serde_json::to_writer(&mut out, &v)?;
                writeln!(out)?;
            }
        }
        Format::Text => {
            let mut ts: Vec<_> = miner.templates().iter().collect();
            ts.sort_by(|a, b| b.count.cmp(&a.count).then(a.id.cmp(&b.id)));
            writeln!(out, "{} lines, {} templates", groups.len(), ts.len())?;
            for t in ts {
                writeln!(out, "{:>8}  {:<5} {}", t.count, t.label(), t.text())?;
            }
        }
    }
    out.flush()?;
    Ok(())
}

pub async fn verify(a: VerifyArgs) -> anyhow::Result<()> {
    let src = SourceArgs { data_dir: a.data_dir.clone(), server: a.server.clone(), format: a.format };
    let b = Backend::open(&src).await?;
    let q = query_string(&[
        ("since", Some(a.since.clone())),
        ("to", a.to.clone()),
        ("baseline", a.baseline.clone()),
    ]);
    let v = b.get(&format!("/api/v1/verify{q}")).await?;
    let mut out = std::io::stdout().lock();
    if a.format == Format::Json {
        serde_json::to_writer_pretty(&mut out, &v)?;
        writeln!(out)?;
        return Ok(());
    }
    let r: faultline_analysis::verify::Verification =
        serde_json::from_value(v).context("reading the verification")?;
    let paint =
        |code: &str, s: &str| if colour() { format!("\x1b[{code}m{s}\x1b[0m") } else { s.to_string() };
    writeln!(out, "{}", paint(if r.recovered { "32;1" } else { "31;1" }, &r.summary))?;
    writeln!(
        out,
        "after the fix {} .. {}; baseline {} .. {}",
        r.window.from, r.window.to, r.baseline.from, r.baseline.to
    )?;
    for e in &r.endpoints {
        writeln!(
            out,
            "  {} {:<40} errors {:>6.2}% -> {:>6.2}%  p99 {:>7.0} ms -> {:>7.0} ms  {}",
            if e.recovered { "ok " } else { "BAD" },
            format!("{} {}", e.service, e.operation),
            e.error_rate.baseline * 100.0,
            e.error_rate.incident * 100.0,
            e.latency_p99_ms.baseline,
            e.latency_p99_ms.incident,
            e.reason
        )?;
    }
    Ok(())
}

pub async fn diff(a: DiffArgs) -> anyhow::Result<()> {
    let src = SourceArgs { data_dir: a.data_dir.clone(), server: a.server.clone(), format: a.format };
    let q = match a.trace.as_slice() {
        [] => query_string(&[
            ("from", a.from.clone()),
            ("to", a.to.clone()),
            ("baseline", a.baseline.clone()),
            ("mode", a.slow.then(|| "slow".to_string())),
            ("a", a.a.clone()),
            ("b", a.b.clone()),
            ("top", Some(a.top.to_string())),
        ]),
        [x, y] => query_string(&[("trace_a", Some(x.clone())), ("trace_b", Some(y.clone()))]),
        _ => anyhow::bail!("--trace takes exactly two trace ids (give it twice)"),
    };
    let b = Backend::open(&src).await?;
    let v = b.get(&format!("/api/v1/diff{q}")).await?;
    let mut out = std::io::stdout().lock();
    if a.format == Format::Json {
        serde_json::to_writer_pretty(&mut out, &v)?;
        writeln!(out)?;
        return Ok(());
    }
    let text = if a.trace.is_empty() {
        let r: faultline_analysis::diff::DiffReport =
            serde_json::from_value(v).context("reading the comparison")?;
        faultline_analysis::diff::render_text(&r)
    } else {
        let r: faultline_analysis::diff::TraceComparison =
            serde_json::from_value(v).context("reading the comparison")?;
        faultline_analysis::diff::render_trace_comparison(&r)
    };
    out.write_all(text.as_bytes())?;
    Ok(())
}
