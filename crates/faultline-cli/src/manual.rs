//! Shell completions and man pages, generated from the clap definition so they never drift from
//! the flags (`faultline completions bash`, `faultline man --out DIR`).

use crate::args::Cli;
use anyhow::Context;
use clap::CommandFactory;
use std::path::Path;

pub fn completions(shell: clap_complete::Shell, out: &mut dyn std::io::Write) {
    clap_complete::generate(shell, &mut Cli::command(), "faultline", out);
}

/// `faultline.1`, and `faultline-<command>.1` for each command, into `dir`; the files written.
pub fn man_pages(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let cmd = Cli::command();
    let mut written = vec![write_page(dir, "faultline", cmd.clone())?];
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let name = format!("faultline-{}", sub.get_name());
        written.push(write_page(dir, &name, sub.clone())?);
    }
    for p in written {
        println!("{}", p.display());
    }
    Ok(())
}

fn write_page(dir: &Path, name: &str, cmd: clap::Command) -> anyhow::Result<std::path::PathBuf> {
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd).title(name.to_uppercase()).render(&mut buf).context("rendering a man page")?;
    let path = dir.join(format!("{name}.1"));
    std::fs::write(&path, buf).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completions_know_every_command_and_a_flag() {
        let mut out = Vec::new();
        completions(clap_complete::Shell::Bash, &mut out);
        let text = String::from_utf8(out).unwrap();
        for word in ["investigate", "serve", "import", "--tls-cert", "--max-memory"] {
            assert!(text.contains(word), "bash completion lacks {word}");
        }
    }

    #[test]
    fn a_man_page_per_command() {
        let d = tempfile::tempdir().unwrap();
        man_pages(d.path()).unwrap();
        let serve = std::fs::read_to_string(d.path().join("faultline-serve.1")).unwrap();
        assert!(serve.contains(".TH") && serve.contains("tls\\-cert"), "{}", &serve[..300.min(serve.len())]);
        assert!(d.path().join("faultline.1").exists() && d.path().join("faultline-investigate.1").exists());
    }
}
