#![no_main]
//! `zoom_ws::__fuzz::upgrade_response`: see its docs for the input layout and the
//! promises checked.

libfuzzer_sys::fuzz_target!(|data: &[u8]| zoom_ws::__fuzz::upgrade_response(data));
