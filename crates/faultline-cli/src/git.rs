//! `faultline changes import-git`: commits that touch configuration or infrastructure become change
//! events (the commit's time, author, message and files). Reads the history with the `git` command.

use anyhow::{bail, Context};
use faultline_model::{Attributes, ChangeEvent, ChangeKind};
use std::path::Path;
use std::process::Command;

/// Whether a path is configuration or infrastructure, and which.
pub fn classify(path: &str) -> Option<ChangeKind> {
    let p = path.to_ascii_lowercase();
    let name = p.rsplit('/').next().unwrap_or(&p);
    let infra_dirs = [
        "terraform/",
        "infra/",
        "infrastructure/",
        "k8s/",
        "kubernetes/",
        "helm/",
        "charts/",
        "deploy/",
        "ansible/",
        ".github/workflows/",
    ];
    let infra_ext = [".tf", ".tfvars", ".hcl"];
    if infra_dirs.iter().any(|d| p.starts_with(d) || p.contains(&format!("/{d}")))
        || infra_ext.iter().any(|e| name.ends_with(e))
        || name == "dockerfile"
        || name.starts_with("docker-compose")
    {
        return Some(ChangeKind::Infra);
    }
    let config_ext = [".yaml", ".yml", ".toml", ".json", ".ini", ".conf", ".cfg", ".properties", ".env"];
    if config_ext.iter().any(|e| name.ends_with(e))
        || p.starts_with("config/")
        || p.contains("/config/")
        || name == ".env"
    {
        return Some(ChangeKind::Config);
    }
    None
}

/// Reads the repository's history and returns change events for commits touching config or infra
/// paths (under `paths`, when given).
pub fn changes_from_git(
    repo: &Path,
    paths: &[String],
    service: &str,
    max: usize,
) -> anyhow::Result<Vec<ChangeEvent>> {
    const SEP: &str = "\u{1e}";
    let mut cmd = Command::new("git");
    cmd.arg("-C").arg(repo).args(["log", "--no-merges", "--name-only", &format!("--max-count={max}")]);
    cmd.arg(format!("--format={SEP}%H%x1f%ct%x1f%an <%ae>%x1f%s"));
    if !paths.is_empty() {
        cmd.arg("--");
        cmd.args(paths);
    }
    let out = cmd.output().context("running git (is it installed?)")?;
    if !out.status.success() {
        bail!("git log failed in {}: {}", repo.display(), String::from_utf8_lossy(&out.stderr).trim());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut events = Vec::new();
    for record in text.split(SEP).filter(|r| !r.trim().is_empty()) {
        let mut lines = record.lines();
        let head = lines.next().unwrap_or("");
        let f: Vec<&str> = head.split('\u{1f}').collect();
        if f.len() < 4 {
            continue;
        }
        let files: Vec<&str> = lines.map(str::trim).filter(|l| !l.is_empty()).collect();
        let kinds: Vec<ChangeKind> = files.iter().filter_map(|p| classify(p)).collect();
        if kinds.is_empty() && paths.is_empty() {
            continue;
        }
        let kind = if kinds.contains(&ChangeKind::Infra) { ChangeKind::Infra } else { ChangeKind::Config };
        let secs: i64 = f[1].parse().unwrap_or(0);
        let mut attributes = Attributes::new();
        attributes.insert("vcs.commit".into(), f[0].into());
        attributes.insert("vcs.files".into(), files.iter().map(|s| serde_json::Value::from(*s)).collect());
        events.push(ChangeEvent {
            id: format!("git-{}", &f[0][..f[0].len().min(12)]),
            time_unix_nano: secs * 1_000_000_000,
            service: service.to_string(),
            instance: None,
            kind,
            version_before: None,
            version_after: Some(f[0][..f[0].len().min(12)].to_string()),
            description: f[3].to_string(),
            author: Some(f[2].to_string()),
            link: None,
            attributes,
        });
    }
    events.reverse();
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_paths() {
        assert_eq!(classify("deploy/lb/pool.yaml"), Some(ChangeKind::Infra));
        assert_eq!(classify("main.tf"), Some(ChangeKind::Infra));
        assert_eq!(classify("services/cart/config/app.toml"), Some(ChangeKind::Config));
        assert_eq!(classify("settings.json"), Some(ChangeKind::Config));
        assert_eq!(classify("src/main.rs"), None);
    }

    #[test]
    fn reads_a_real_repository() {
        let dir = tempfile::tempdir().unwrap();
        let git = |args: &[&str]| {
            let ok = Command::new("git")
                .arg("-C")
                .arg(dir.path())
                .args(["-c", "user.name=Ops", "-c", "user.email=ops@example.com"])
                .args(args)
                .env("GIT_COMMITTER_DATE", "2026-11-13T08:00:00Z")
                .env("GIT_AUTHOR_DATE", "2026-11-13T08:00:00Z")
                .status()
                .unwrap()
                .success();
            assert!(ok, "git {args:?}");
        };
        git(&["init", "-q"]);
        std::fs::create_dir_all(dir.path().join("lb")).unwrap();
        std::fs::write(dir.path().join("lb/pool.yaml"), "backends: [a, b]\n").unwrap();
        std::fs::write(dir.path().join("README"), "x\n").unwrap();
        git(&["add", "."]);
        git(&["commit", "-q", "-m", "add backend b to the inventory pool"]);
        std::fs::write(dir.path().join("README"), "y\n").unwrap();
        git(&["commit", "-q", "-am", "docs only"]);
        let ev = changes_from_git(dir.path(), &[], "inventory", 100).unwrap();
        assert_eq!(ev.len(), 1, "{ev:?}");
        assert_eq!(ev[0].description, "add backend b to the inventory pool");
        assert_eq!(ev[0].kind, ChangeKind::Config);
        assert_eq!(ev[0].author.as_deref(), Some("Ops <ops@example.com>"));
        assert_eq!(faultline_model::time::format_rfc3339(ev[0].time_unix_nano), "2026-11-13T08:00:00Z");
        assert!(ev[0].attributes["vcs.files"].as_array().unwrap().contains(&"lb/pool.yaml".into()));
    }
}
