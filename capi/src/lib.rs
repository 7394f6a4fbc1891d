//! The C API of `imei-index`: `libimei_index.a` / `libimei_index.so.1`, `imei_index.h` and
//! `imei_index.pc`, installed by cargo-c:
//!
//! ```sh
//! cargo cinstall -p imei-index-capi --release --prefix /usr/local --libdir /usr/local/lib
//! cc -O2 eir.c $(pkg-config --cflags --libs imei_index) -o eir
//! ```
//!
//! Everything here is `extern "C"` and documented for C programmers; the header
//! (`include/imei_index.h`) is generated from these items by cbindgen (`cbindgen.toml`),
//! and a test fails when the committed header is stale. The repository's `docs/c-api.md`
//! covers building, linking, errors, threads and the ABI's rules; `examples/c/` holds a
//! program.
//!
//! # Rules every function follows
//!
//! * It returns an [`imei_index_result`]: 0 on success, else a code, and sets this thread's
//!   error message ([`imei_index_last_error`]). A few functions that cannot fail return a
//!   value instead.
//! * It never unwinds into C and never aborts: its body runs under `catch_unwind`, and a
//!   panic (a bug) becomes [`imei_index_result::Panic`]. Building the library with
//!   `panic = "abort"` would take that guarantee away.
//! * It checks every pointer for NULL (and alignment) and every length, and reads text
//!   from exactly the length given: buffers need no NUL, and bytes that are not UTF-8 or
//!   not digits are reported, not trusted.
//! * Out-parameters are written on failure too, with values that cannot be mistaken for an
//!   answer (NULL handles, `IMEI_INDEX_STATUS_INVALID` verdicts).
//!
//! # The sightings journal
//!
//! `imei_index_journal_*` records the checks an EIR answers (see `journal.rs` and the
//! repository's docs/server.md): an opaque options handle with setters, `open`, `record`
//! (never waits), `flush`, `stats`, `close`, and an alert callback.
//!
//! # Threads
//!
//! One handle serves any number of threads at once for every function that takes it as
//! `const`. Only [`imei_index_close`] needs every other call with the handle to be over.
//! Error messages are per thread.
//!
//! # Adding a kind of handle
//!
//! A new handle (such as a reloading one) gets its own file: an opaque struct, `open_*`
//! functions through the same pattern as `open_into` in `handle.rs`, a `close` that accepts
//! NULL, and checks built on `answer`, `check_text`, `check_text_with_imsi` and
//! `check_array` in `check.rs`, which take the lookup as a closure. Then the input rules, the verdicts
//! and the messages stay the same for every handle.
//!
//! # Example
//!
//! The C API called from Rust, as a C program would:
//!
//! ```
//! use imei_index_capi::{
//!     IMEI_INDEX_RULE_IMEI, IMEI_INDEX_STATUS_BLOCKED, imei_index_check, imei_index_close,
//!     imei_index_open_bytes, imei_index_result, imei_index_verdict,
//! };
//! use imei_index::{Entry, Imei, IndexBuilder, Rule, Status};
//!
//! let mut builder = IndexBuilder::new();
//! builder.add(Rule::imei(Imei::parse("354178036859789")?, Entry::new(Status::Blocked)));
//! let (bytes, _) = builder.build_to_vec()?;
//!
//! let mut index = std::ptr::null_mut();
//! let mut v = imei_index_verdict { status: 0, reason: 0, rule: 0, check_digit_ok: 0, date: 0 };
//! // SAFETY: valid pointers and lengths throughout; the handle is closed once.
//! unsafe {
//!     assert_eq!(imei_index_open_bytes(bytes.as_ptr(), bytes.len(), &mut index), imei_index_result::Ok);
//!     let imei = "35-417803-685978-9";
//!     assert_eq!(imei_index_check(index, imei.as_ptr().cast(), imei.len(), &mut v), imei_index_result::Ok);
//!     assert_eq!(v.status, IMEI_INDEX_STATUS_BLOCKED);
//!     assert_eq!(v.rule, IMEI_INDEX_RULE_IMEI);
//!     imei_index_close(index);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]
#![warn(unreachable_pub)]

// cbindgen writes the header in this order: results, verdicts, the handle, checks, the
// live handle, the journal.
mod result;

mod verdict;

mod handle;

mod check;

mod live;

mod journal;

mod text;

mod device;

mod input;

pub use self::check::{
    imei_index_check, imei_index_check_lenient, imei_index_check_many, imei_index_check_u64,
    imei_index_check_with_imsi, imei_index_check_with_imsi_lenient,
};
pub use self::device::{
    IMEI_INDEX_DEVICE_TEXT_BYTES, imei_index_device, imei_index_device_get,
    imei_index_live_device_get, imei_index_live_open_with_tac_policy,
    imei_index_open_with_tac_policy, imei_index_tac_policy,
};
pub use self::handle::{
    IMEI_INDEX_OPEN_ADVISE_RANDOM, IMEI_INDEX_OPEN_LOCK, IMEI_INDEX_OPEN_POPULATE,
    IMEI_INDEX_OPEN_TRUSTED, IMEI_INDEX_OPEN_VERIFY_FULL, imei_index, imei_index_close,
    imei_index_format_version, imei_index_open, imei_index_open_bytes, imei_index_open_trusted,
    imei_index_open_with, imei_index_statistics, imei_index_stats, imei_index_version,
};
pub use self::journal::{
    IMEI_INDEX_JOURNAL_DROPPED, IMEI_INDEX_JOURNAL_QUEUED, IMEI_INDEX_JOURNAL_RECORD_ALL,
    IMEI_INDEX_JOURNAL_RECORD_ALLOWED, IMEI_INDEX_JOURNAL_RECORD_BLOCKED,
    IMEI_INDEX_JOURNAL_RECORD_LISTED, IMEI_INDEX_JOURNAL_RECORD_TRACKED,
    IMEI_INDEX_JOURNAL_RECORD_UNKNOWN, IMEI_INDEX_JOURNAL_SKIPPED, imei_index_journal,
    imei_index_journal_alert, imei_index_journal_alert_fn, imei_index_journal_close,
    imei_index_journal_flush, imei_index_journal_open, imei_index_journal_options,
    imei_index_journal_options_free, imei_index_journal_options_new,
    imei_index_journal_options_set_alert_callback,
    imei_index_journal_options_set_flush_interval_ms, imei_index_journal_options_set_key,
    imei_index_journal_options_set_policy, imei_index_journal_options_set_queue_capacity,
    imei_index_journal_options_set_retention_days, imei_index_journal_record,
    imei_index_journal_statistics, imei_index_journal_stats,
};
pub use self::live::{
    imei_index_live, imei_index_live_check, imei_index_live_check_lenient,
    imei_index_live_check_many, imei_index_live_check_u64, imei_index_live_check_with_imsi,
    imei_index_live_check_with_imsi_lenient, imei_index_live_close, imei_index_live_health,
    imei_index_live_health_get, imei_index_live_last_refusal, imei_index_live_open,
    imei_index_live_open_with, imei_index_live_reload, imei_index_live_reload_if_changed,
    imei_index_live_stats, imei_index_reload,
};
pub use self::result::{imei_index_last_error, imei_index_result, imei_index_result_text};
pub use self::text::{
    IMEI_INDEX_REASONS_BYTES, IMEI_INDEX_SOURCE_BYTES, imei_index_check_at,
    imei_index_live_check_at, imei_index_verdict_text,
};
pub use self::verdict::*;
