#![no_main]
//! See `imei_index_fuzz::identifiers`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| imei_index_fuzz::identifiers(data));
