#![no_main]
//! See `imei_index_fuzz::s13_messages`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| imei_index_fuzz::s13_messages(data));
