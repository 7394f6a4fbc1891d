#![no_main]
//! See `imei_index_fuzz::dirbs_rows`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| imei_index_fuzz::dirbs_rows(data));
