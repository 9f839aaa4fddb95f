//! faultline's web UI, embedded: the files `build.rs` built from `ui/` (none when Node.js was
//! missing at build time), with their content types, and the security headers every UI response
//! carries.

include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// The Content-Security-Policy of every UI page: scripts and styles only from the binary itself
/// (no inline script, no eval), data only from the same origin, no frames, no plugins. Telemetry
/// is attacker-controlled text: even if some of it reached the DOM as markup, it could not run.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data: blob:; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

/// Whether the binary was built with the UI.
pub fn built() -> bool {
    ASSETS.iter().any(|(n, _)| *n == "index.html")
}

/// An embedded file by name (`app.js`), with its content type.
pub fn asset(name: &str) -> Option<(&'static [u8], &'static str)> {
    ASSETS.iter().find(|(n, _)| *n == name).map(|(n, b)| (*b, content_type(n)))
}

/// The page every UI path answers with (the router in the bundle picks the view).
pub fn index() -> Option<&'static [u8]> {
    asset("index.html").map(|a| a.0)
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

/// The page `/` serves when the binary was built without Node.js.
pub const NOT_BUILT: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>faultline</title></head>\
<body><h1>faultline</h1><p>This faultline was built without its web UI: Node.js and npm were not found when it was \
compiled. Install Node.js 18 or later (with npm) and build again (<code>cargo build --release -p faultline</code>); \
the UI is then served here.</p><p>Everything else works without it: the API is under <a href=\"/api/v1/status\">/api/v1</a>, \
and <code>faultline investigate</code> prints the same report in the terminal.</p></body></html>";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_and_the_bundle() {
        assert_eq!(content_type("app.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("x"), "application/octet-stream");
        // Built with the UI, its three files are there; without, none is.
        if built() {
            for f in ["app.js", "app.css", "index.html"] {
                assert!(asset(f).is_some_and(|a| !a.0.is_empty()), "{f}");
            }
        } else {
            assert!(ASSETS.is_empty());
        }
    }

    #[test]
    fn the_policy_forbids_inline_script_and_eval() {
        let script = CONTENT_SECURITY_POLICY.split(';').find(|d| d.trim().starts_with("script-src")).unwrap();
        assert!(!script.contains("unsafe-inline") && !script.contains("unsafe-eval"), "{script}");
    }
}
