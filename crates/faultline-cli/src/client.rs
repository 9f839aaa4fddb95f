//! The HTTP client of the commands that speak to a server (`--server`, `sim --otlp`): with
//! `FAULTLINE_TOKEN` set, every request carries it as `Authorization: Bearer`; with
//! `FAULTLINE_TENANT` set, as `X-Scope-OrgID` (the tenant it reads or writes).

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
    reqwest::Client::builder().default_headers(h).build().context("building the HTTP client")
}
