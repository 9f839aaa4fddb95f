//! Log lines of every format: plain text (the level read from inside it), logfmt, JSON lines, and
//! the template miner over them: any line is read, never a panic; a line fed twice lands on the
//! template it made.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut miner = faultline_analysis::templates::Miner::new(Default::default());
    for line in text.lines().take(64) {
        let _ = faultline_ingest::logs::detect_level(line);
        let _ = faultline_ingest::logs::from_text_line(line, "svc", 0);
        let _ = faultline_ingest::logs::parse_logfmt(line);
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(line) {
            let _ = faultline_ingest::logs::from_json_line(v, "svc", 0);
        }
        let _ = faultline_analysis::inputs::level_in_text(line);
        let first = miner.add(line);
        assert_eq!(miner.add(line), first, "a line seen before lands on its template: {line:?}");
    }
});
