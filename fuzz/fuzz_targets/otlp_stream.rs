//! The streaming OTLP/JSON reader `faultline import` uses for one-line documents over 1 MB, called
//! directly so that small inputs reach it: any bytes are read chunk by chunk or refused, never a
//! panic, and every chunk decodes or is refused as import decodes it.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = faultline_ingest::otlp_stream::read(data, &mut |c| {
        let _ = faultline_otlp::json::decode_value(c.signal, &c.request);
        Ok(())
    });
});
