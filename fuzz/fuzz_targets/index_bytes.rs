#![no_main]
//! See `imei_index_fuzz::index_bytes`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| imei_index_fuzz::index_bytes(data));
