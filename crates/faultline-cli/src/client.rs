//! The HTTP client of the commands that speak to a server (`--server`, `sim --otlp`): with
//! `FAULTLINE_TOKEN` set, every request carries it as `Authorization: Bearer`.

use anyhow::Context;

pub fn http() -> anyhow::Result<reqwest::Client> {
    let mut b = reqwest::Client::builder();
    if let Some(token) = std::env::var("FAULTLINE_TOKEN").ok().filter(|t| !t.trim().is_empty()) {
        let mut v = reqwest::header::HeaderValue::from_str(&format!("Bearer {}", token.trim()))
            .context("FAULTLINE_TOKEN holds characters a header cannot carry")?;
        v.set_sensitive(true);
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(reqwest::header::AUTHORIZATION, v);
        b = b.default_headers(h);
    }
    b.build().context("building the HTTP client")
}
