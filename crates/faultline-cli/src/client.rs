//! The HTTP client of the commands that speak to a server (`--server`, `sim --otlp`): with
//! `FAULTLINE_TOKEN` set, every request carries it as `Authorization: Bearer`; with
//! `FAULTLINE_TENANT` set, as `X-Scope-OrgID` (the tenant it reads or writes). An `https://` server
//! is checked against the system's roots, and the PEM certificate in `FAULTLINE_CA_CERT` (a
//! server's own self-signed certificate, or a private CA).

use anyhow::Context;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};

pub fn http() -> anyhow::Result<reqwest::Client> {
    let var = |name: &str| std::env::var(name).ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    let mut h = HeaderMap::new();
    if let Some(token) = var("FAULTLINE_TOKEN") {
        let mut v = HeaderValue::from_str(&format!("Bearer {token}"))
            .context("FAULTLINE_TOKEN holds characters a header cannot carry")?;
        v.set_sensitive(true);
        h.insert(AUTHORIZATION, v);
    }
    if let Some(tenant) = var("FAULTLINE_TENANT") {
        let id = faultline_server::tenant::parse_tenant_id(&tenant)
            .map_err(|m| anyhow::anyhow!("FAULTLINE_TENANT: {m}"))?;
        h.insert(faultline_server::tenant::TENANT_HEADER, HeaderValue::from_str(&id)?);
    }
    let mut b = reqwest::Client::builder().default_headers(h);
    if let Some(path) = var("FAULTLINE_CA_CERT") {
        let pem = std::fs::read(&path).with_context(|| format!("FAULTLINE_CA_CERT: cannot read {path}"))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .with_context(|| format!("FAULTLINE_CA_CERT: {path} holds no PEM certificate"))?;
        for c in certs {
            b = b.add_root_certificate(c);
        }
    }
    b.build().context("building the HTTP client")
}
