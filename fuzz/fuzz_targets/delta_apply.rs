#![no_main]
//! See `imei_index_fuzz::delta_apply`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| imei_index_fuzz::delta_apply(data));
