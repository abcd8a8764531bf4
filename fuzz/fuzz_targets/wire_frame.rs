#![no_main]
//! `zoom_ws::__fuzz::wire_frame`: see its docs for the input layout and the
//! promises checked.

libfuzzer_sys::fuzz_target!(|data: &[u8]| zoom_ws::__fuzz::wire_frame(data));
