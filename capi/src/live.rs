//! The live handle: an index that follows its file and reloads while serving checks.

use std::ffi::c_char;

use super::check::{answer, check_array, check_text, check_text_with_imsi};
use super::handle::{imei_index_statistics, open_into, options};
use super::input;
use super::result::{Failure, guard, imei_index_result};
use super::verdict::imei_index_verdict;
use ::imei_index::{LiveIndex, Reload};

/// A live index: follows the file at a path, and swaps in a newly published version of it
/// when reloaded, while checks go on.
///
/// Opaque: create it with `imei_index_live_open*`, free it with `imei_index_live_close`.
/// Checks and reloads take it as `const imei_index_live *` and may run at the same time on
/// any number of threads: a check never waits for a reload, and answers from the old index
/// or the new one, never a mix. Publish new files by writing them beside the path and
/// renaming them over it (as `imei-index publish` does); never modify a published file in
/// place.
#[allow(non_camel_case_types)]
pub struct imei_index_live {
    pub(crate) live: LiveIndex,
}

/// What a reload did.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct imei_index_reload {
    /// 1 when a new index was swapped in; 0 when not (the file had not changed, or it was
    /// refused: see the result code).
    pub reloaded: u8,
    /// The serial of the index served before the call.
    pub old_serial: u64,
    /// Its rules.
    pub old_rules: u64,
    /// The serial of the index served after the call (the old one's when not reloaded).
    pub new_serial: u64,
    /// Its rules.
    pub new_rules: u64,
}

impl imei_index_reload {
    fn of(r: &Reload) -> imei_index_reload {
        imei_index_reload {
            reloaded: 1,
            old_serial: r.old.serial,
            old_rules: r.old.rules,
            new_serial: r.new.serial,
            new_rules: r.new.rules,
        }
    }

    /// No reload: the index served stays.
    fn none(live: &LiveIndex) -> imei_index_reload {
        let current = live.current();
        let (serial, rules) = (current.serial(), current.stats().rules());
        imei_index_reload {
            reloaded: 0,
            old_serial: serial,
            old_rules: rules,
            new_serial: serial,
            new_rules: rules,
        }
    }
}

/// Opens the index file at `path`, verifying its checksums, to serve and reload.
///
/// On success `*out` is a new handle, to be freed with `imei_index_live_close`; on failure
/// it is NULL. Returns as `imei_index_open`.
///
/// Thread safety: safe to call from any thread.
///
/// # Safety
///
/// `path` must be NULL or a NUL-terminated string; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn imei_index_live_open(
    path: *const c_char,
    out: *mut *mut imei_index_live,
) -> imei_index_result {
    // SAFETY: the caller's guarantees are those `imei_index_live_open_with` needs.
    unsafe { imei_index_live_open_with(path, 0, out) }
}

/// Opens the index file at `path` with `IMEI_INDEX_OPEN_*` flags, which every reload uses
/// too (for example `IMEI_INDEX_OPEN_VERIFY_FULL` for files from a publisher that does not
/// verify them, or `IMEI_INDEX_OPEN_POPULATE` to fault a new file in before it serves).
///
/// Returns as `imei_index_open_with`.
///
/// Thread safety: safe to call from any thread.
///
/// # Safety
///
/// As `imei_index_live_open`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn imei_index_live_open_with(
    path: *const c_char,
    flags: u32,
    out: *mut *mut imei_index_live,
) -> imei_index_result {
    let open = || {
        // SAFETY: the caller guarantees `path` is NULL or NUL-terminated.
        let path = unsafe { input::path(path) }?;
        Ok(imei_index_live {
            live: LiveIndex::open_with(path, options(flags)?)?,
        })
    };
    // SAFETY: the caller guarantees `out` is NULL or writable.
    unsafe { open_into(out, open) }
}

/// Frees a live handle and unmaps its index. NULL is fine (nothing happens).
///
/// Thread safety: call it once per handle, after every other call with the handle has
/// returned; the handle must not be used afterwards.
///
/// # Safety
///
/// `live` must be NULL or a handle from `imei_index_live_open*` not yet closed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn imei_index_live_close(live: *mut imei_index_live) {
    if live.is_null() {
        return;
    }
    let _ = guard(|| {
        // SAFETY: the caller guarantees a live handle from `Box::into_raw` in `open_into`,
        // closed once.
        drop(unsafe { Box::from_raw(live) });
        Ok(())
    });
}

/// Borrows the live index behind a handle.
///
/// # Safety
///
/// `live` must be NULL or an open live handle, not closed while the borrow lasts.
pub(crate) unsafe fn borrow<'a>(live: *const imei_index_live) -> Result<&'a LiveIndex, Failure> {
    let p = input::non_null(live, "live")?;
    // SAFETY: not NULL, aligned; the caller guarantees a live handle.
    Ok(unsafe { &p.as_ref().live })
}

/// Runs a reload and writes what it did to `*out` (when not NULL), on failure too.
///
/// # Safety
///
/// `live` must be NULL or an open live handle; `out` NULL or writable.
unsafe fn reload_with(
    live: *const imei_index_live,
    out: *mut imei_index_reload,
    reload: impl FnOnce(&LiveIndex) -> Result<Option<Reload>, imei_index::Error>,
) -> imei_index_result {
    guard(|| {
        let out = (!out.is_null())
            .then(|| input::non_null(out, "out"))
            .transpose()?;
        if let Some(p) = out {
            // SAFETY: not NULL, aligned; the caller guarantees it is writable.
            unsafe { p.as_ptr().write(imei_index_reload::default()) };
        }
        // SAFETY: the caller guarantees a live handle or NULL.
        let live = unsafe { borrow(live) }?;
        let result = reload(live);
        let report = match &result {
            Ok(Some(r)) => imei_index_reload::of(r),
            _ => imei_index_reload::none(live),
        };
        if let Some(p) = out {
            // SAFETY: as above.
            unsafe { p.as_ptr().write(report) };
        }
        result.map(drop).map_err(Failure::from)
    })
}

/// Opens the file the path names now and, if it is a valid index, serves it instead of the
/// current one. Writes what happened to `*out` when `out` is not NULL.
///
/// Checks on other threads go on against the old index meanwhile, and those under way
/// finish with it; it is unmapped when the last of them returns.
///
/// Returns `IMEI_INDEX_RESULT_IO` when the file is missing or unreadable and
/// `IMEI_INDEX_RESULT_CORRUPT_INDEX` when it is not a valid index; the old index then
/// keeps serving, and `out->reloaded` is 0.
///
/// Thread safety: safe to call from any number of threads at once with one handle,
/// alongside checks; reloads run one at a time.
///
/// # Safety
///
/// `live` must be NULL or an open live handle; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn imei_index_live_reload(
    live: *const imei_index_live,
    out: *mut imei_index_reload,
) -> imei_index_result {
    // SAFETY: passed on from the caller.
    unsafe { reload_with(live, out, |l| l.reload().map(Some)) }
}

/// Reloads only if the path names another file, or the file changed, since the last load
/// or failed attempt (one `stat`): call it from a timer to follow publishes.
/// `out->reloaded` says whether it reloaded.
///
/// Returns as `imei_index_live_reload`, but reports a refused file once: it is not tried
/// again (and the call returns `IMEI_INDEX_RESULT_OK` with `reloaded` 0) until it changes.
/// Refused files are counted in `imei_index_live_health_get`.
///
/// Thread safety: as `imei_index_live_reload`, but never waits: while another reload is in
/// progress it returns `IMEI_INDEX_RESULT_OK` with `reloaded` 0 at once.
///
/// # Safety
///
/// As `imei_index_live_reload`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn imei_index_live_reload_if_changed(
    live: *const imei_index_live,
    out: *mut imei_index_reload,
) -> imei_index_result {
    // SAFETY: passed on from the caller.
    unsafe { reload_with(live, out, LiveIndex::reload_if_changed) }
}

/// Writes the counts, sizes and versions of the index now serving to `*out`.
///
/// Thread safety: safe to call from any number of threads at once with one handle.
///
/// # Safety
///
/// `live` must be NULL or an open live handle; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn imei_index_live_stats(
    live: *const imei_index_live,
    out: *mut imei_index_statistics,
) -> imei_index_result {
    guard(|| {
        let out = input::non_null(out, "out")?;
        // SAFETY: the caller guarantees a live handle or NULL.
        let stats = imei_index_statistics::of(&unsafe { borrow(live) }?.current());
        // SAFETY: `out` is not NULL and aligned; the caller guarantees it is writable.
        unsafe { out.write(stats) };
        Ok(())
    })
}

/// Whether a live index serves the file its path names, and how many reloads it refused.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct imei_index_live_health {
    /// The serial of the index now serving.
    pub serial: u64,
    /// Reloads that refused a file since the handle was opened (a file that
    /// `imei_index_live_reload_if_changed` refuses counts once).
    pub refused: u64,
    /// 1 when the latest reload was refused and none has succeeded since: the index
    /// serving is older than the file the path names. 0 otherwise.
    pub stale: u8,
}

/// Writes whether the live index serves the file its path names, and how many reloads
/// it refused, to `*out`; when `stale` is 1, `imei_index_live_last_refusal` says why.
///
/// Refused reloads are never silent: a host should export `refused` and `stale` to its
/// monitoring, since checks go on answering from the old index.
///
/// Thread safety: safe to call from any number of threads at once with one handle, and
/// never blocked by a reload.
///
/// # Safety
///
/// `live` must be NULL or an open live handle; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn imei_index_live_health_get(
    live: *const imei_index_live,
    out: *mut imei_index_live_health,
) -> imei_index_result {
    guard(|| {
        let out = input::non_null(out, "out")?;
        // SAFETY: the caller guarantees a live handle or NULL.
        let live = unsafe { borrow(live) }?;
        let health = imei_index_live_health {
            serial: live.serial(),
            refused: live.refused(),
            stale: u8::from(live.last_refusal().is_some()),
        };
        // SAFETY: `out` is not NULL and aligned; the caller guarantees it is writable.
        unsafe { out.write(health) };
        Ok(())
    })
}

/// Copies why the latest reload was refused into `buf` (as `imei_index_last_error` does:
/// NUL-terminated, cut at a character boundary) and returns the message's full length; 0
/// when the latest reload, if any, succeeded.
///
/// Thread safety: safe to call from any number of threads at once with one handle.
///
/// # Safety
///
/// `live` must be NULL or an open live handle; `buf` NULL or `len` writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn imei_index_live_last_refusal(
    live: *const imei_index_live,
    buf: *mut c_char,
    len: usize,
) -> usize {
    let mut n = 0;
    let _ = guard(|| {
        // SAFETY: the caller guarantees a live handle or NULL.
        let live = unsafe { borrow(live) }?;
        let message = live
            .last_refusal()
            .map(|r| r.message.clone())
            .unwrap_or_default();
        // SAFETY: the caller guarantees `buf` is NULL or `len` writable bytes.
        n = unsafe { super::result::copy_message(&message, buf, len) };
        Ok(())
    });
    n
}

/// As `imei_index_check`, against the index now serving.
///
/// Thread safety: safe to call from any number of threads at once with one handle, and
/// never blocked by a reload.
///
/// # Safety
///
/// `live` must be NULL or an open live handle; `imei` NULL or `len` readable bytes; `out` NULL
/// or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn imei_index_live_check(
    live: *const imei_index_live,
    imei: *const c_char,
    len: usize,
    out: *mut imei_index_verdict,
) -> imei_index_result {
    answer(out, || {
        // SAFETY: the caller guarantees a live handle or NULL.
        let live = unsafe { borrow(live) }?;
        // SAFETY: the caller guarantees `len` readable bytes at `imei`, or NULL.
        unsafe { check_text(imei, len, false, |i| Ok(live.check(i))) }
    })
}

/// As `imei_index_check_lenient`, against the index now serving.
///
/// Thread safety: as `imei_index_live_check`.
///
/// # Safety
///
/// As `imei_index_live_check`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn imei_index_live_check_lenient(
    live: *const imei_index_live,
    imei: *const c_char,
    len: usize,
    out: *mut imei_index_verdict,
) -> imei_index_result {
    answer(out, || {
        // SAFETY: the caller guarantees a live handle or NULL.
        let live = unsafe { borrow(live) }?;
        // SAFETY: the caller guarantees `len` readable bytes at `imei`, or NULL.
        unsafe { check_text(imei, len, true, |i| Ok(live.check(i))) }
    })
}

/// As `imei_index_check_u64`, against the index now serving.
///
/// Thread safety: as `imei_index_live_check`.
///
/// # Safety
///
/// `live` must be NULL or an open live handle; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn imei_index_live_check_u64(
    live: *const imei_index_live,
    imei14: u64,
    out: *mut imei_index_verdict,
) -> imei_index_result {
    answer(out, || {
        // SAFETY: the caller guarantees a live handle or NULL.
        let live = unsafe { borrow(live) }?;
        let imei = input::imei_u64(imei14)?;
        Ok(imei_index_verdict::new(live.check(imei), true))
    })
}

/// As `imei_index_check_with_imsi`, against the index now serving.
///
/// Thread safety: as `imei_index_live_check`.
///
/// # Safety
///
/// `live` must be NULL or an open live handle; `imei` and `imsi` NULL or their length of
/// readable bytes; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn imei_index_live_check_with_imsi(
    live: *const imei_index_live,
    imei: *const c_char,
    imei_len: usize,
    imsi: *const c_char,
    imsi_len: usize,
    out: *mut imei_index_verdict,
) -> imei_index_result {
    answer(out, || {
        // SAFETY: the caller guarantees a live handle or NULL.
        let live = unsafe { borrow(live) }?;
        // SAFETY: the caller guarantees the lengths of readable bytes, or NULL.
        unsafe {
            check_text_with_imsi(imei, imei_len, imsi, imsi_len, false, |i, s| {
                Ok(live.check_with_imsi(i, s))
            })
        }
    })
}

/// As `imei_index_check_with_imsi_lenient`, against the index now serving.
///
/// Thread safety: as `imei_index_live_check`.
///
/// # Safety
///
/// As `imei_index_live_check_with_imsi`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn imei_index_live_check_with_imsi_lenient(
    live: *const imei_index_live,
    imei: *const c_char,
    imei_len: usize,
    imsi: *const c_char,
    imsi_len: usize,
    out: *mut imei_index_verdict,
) -> imei_index_result {
    answer(out, || {
        // SAFETY: the caller guarantees a live handle or NULL.
        let live = unsafe { borrow(live) }?;
        // SAFETY: the caller guarantees the lengths of readable bytes, or NULL.
        unsafe {
            check_text_with_imsi(imei, imei_len, imsi, imsi_len, true, |i, s| {
                Ok(live.check_with_imsi(i, s))
            })
        }
    })
}

/// As `imei_index_check_many`; all `n` IMEIs are checked against one index, even when a
/// reload swaps in another meanwhile.
///
/// Thread safety: as `imei_index_live_check`.
///
/// # Safety
///
/// `live` must be NULL or an open live handle; `imei14` NULL or `n` readable values; `out` NULL
/// or `n` writable verdicts, not overlapping `imei14`; `n_invalid` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn imei_index_live_check_many(
    live: *const imei_index_live,
    imei14: *const u64,
    n: usize,
    out: *mut imei_index_verdict,
    n_invalid: *mut usize,
) -> imei_index_result {
    let checker = || {
        // SAFETY: the caller guarantees a live handle or NULL.
        let index = unsafe { borrow(live) }?.current();
        Ok(move |i| index.check(i))
    };
    // SAFETY: the caller guarantees the arrays' lengths of memory, or NULL.
    unsafe { check_array(imei14, n, out, n_invalid, checker) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;

    fn index_bytes(serial: u64) -> Vec<u8> {
        let mut b = ::imei_index::IndexBuilder::new();
        b.serial(serial);
        b.build_to_vec().unwrap().0
    }

    #[test]
    fn health_reports_refused_reloads_until_a_good_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("current.imeiidx");
        let place = |bytes: &[u8]| {
            let staged = dir.path().join("staged");
            std::fs::write(&staged, bytes).unwrap();
            std::fs::rename(&staged, &path).unwrap();
        };
        place(&index_bytes(1));
        let c_path = CString::new(path.to_str().unwrap()).unwrap();
        let mut live: *mut imei_index_live = std::ptr::null_mut();
        // SAFETY: a NUL-terminated path and a writable handle pointer.
        let r = unsafe { imei_index_live_open(c_path.as_ptr(), &mut live) };
        assert_eq!(r, imei_index_result::Ok);
        let health = || {
            let mut h = imei_index_live_health::default();
            // SAFETY: an open handle and a writable struct.
            let r = unsafe { imei_index_live_health_get(live, &mut h) };
            assert_eq!(r, imei_index_result::Ok);
            h
        };
        let refusal = || {
            let mut buf = [0u8; 256];
            // SAFETY: an open handle and 256 writable bytes.
            let n = unsafe { imei_index_live_last_refusal(live, buf.as_mut_ptr().cast(), 256) };
            String::from_utf8_lossy(&buf[..n.min(255)]).into_owned()
        };
        assert_eq!(
            (health().refused, health().stale, health().serial),
            (0, 0, 1)
        );
        assert_eq!(refusal(), "");
        place(b"not an index");
        for n in 1..=2u64 {
            // SAFETY: an open handle; `out` may be NULL.
            let r = unsafe { imei_index_live_reload(live, std::ptr::null_mut()) };
            assert_eq!(r, imei_index_result::CorruptIndex);
            assert_eq!(
                (health().refused, health().stale, health().serial),
                (n, 1, 1)
            );
            assert!(
                refusal().contains("not an imei-index file"),
                "{}",
                refusal()
            );
        }
        place(&index_bytes(2));
        // SAFETY: as above.
        let r = unsafe { imei_index_live_reload(live, std::ptr::null_mut()) };
        assert_eq!(r, imei_index_result::Ok);
        assert_eq!(
            (health().refused, health().stale, health().serial),
            (2, 0, 2)
        );
        assert_eq!(refusal(), "");
        // SAFETY: the handle opened above, closed once.
        unsafe { imei_index_live_close(live) };
        let mut h = imei_index_live_health::default();
        // SAFETY: NULL handle: refused with a code, nothing read.
        let r = unsafe { imei_index_live_health_get(std::ptr::null(), &mut h) };
        assert_eq!(r, imei_index_result::NullPointer);
    }
}
