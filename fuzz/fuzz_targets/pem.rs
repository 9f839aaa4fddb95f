//! The TLS certificate chain and key a server loads (and reloads on renewal): any bytes are a
//! usable pair or a clear error, never a panic. The input is the chain, a NUL, then the key.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (cert, key) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let _ = faultline_server::tls::certified_key(cert, key);
});
