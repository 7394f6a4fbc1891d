//! The index handle: opening, closing, statistics, versions.

use std::ffi::c_char;

use bytes::Bytes;

use super::input;
use super::result::{Failure, guard, imei_index_result};
use ::imei_index::FORMAT_VERSION;
use ::imei_index::{Index, OpenOptions, Verification};
use ::imei_index::{RuleKind, Status};

/// An open index: immutable, memory-mapped, shared by any number of threads.
///
/// Opaque: create it with `imei_index_open*`, free it with `imei_index_close`. All check
/// functions take it as `const imei_index *` and may run at the same time on any number of
/// threads; `imei_index_close` must run after every other call with the handle returned.
#[allow(non_camel_case_types)]
pub struct imei_index {
    pub(crate) index: Index,
}

/// Open flag: check the header only, not the section checksums: O(1) instead of one pass
/// over the file. For files verified when published (as `imei-index publish` does) and not
/// writable since.
pub const IMEI_INDEX_OPEN_TRUSTED: u32 = 1;
/// Open flag: also walk every transducer and entry (as `imei-index verify`), for files from
/// sources you do not trust. Cannot be combined with `IMEI_INDEX_OPEN_TRUSTED`.
pub const IMEI_INDEX_OPEN_VERIFY_FULL: u32 = 1 << 1;
/// Open flag: read the whole file into the page cache now (`MAP_POPULATE`), so that the
/// first checks do not wait for the disk.
pub const IMEI_INDEX_OPEN_POPULATE: u32 = 1 << 2;
/// Open flag: lock the mapping in memory (`mlock`); needs `RLIMIT_MEMLOCK` or
/// `CAP_IPC_LOCK` to cover the file.
pub const IMEI_INDEX_OPEN_LOCK: u32 = 1 << 3;
/// Open flag: advise the kernel that access is random (`MADV_RANDOM`).
pub const IMEI_INDEX_OPEN_ADVISE_RANDOM: u32 = 1 << 4;

const ALL_OPEN_FLAGS: u32 = IMEI_INDEX_OPEN_TRUSTED
    | IMEI_INDEX_OPEN_VERIFY_FULL
    | IMEI_INDEX_OPEN_POPULATE
    | IMEI_INDEX_OPEN_LOCK
    | IMEI_INDEX_OPEN_ADVISE_RANDOM;

/// The open options that `flags` ask for.
pub(crate) fn options(flags: u32) -> Result<OpenOptions, Failure> {
    if flags & !ALL_OPEN_FLAGS != 0 {
        return Err(Failure::invalid_argument(format!(
            "unknown open flags {:#x}: pass a combination of the IMEI_INDEX_OPEN_* flags",
            flags & !ALL_OPEN_FLAGS
        )));
    }
    let has = |f: u32| flags & f != 0;
    let verification = match (
        has(IMEI_INDEX_OPEN_TRUSTED),
        has(IMEI_INDEX_OPEN_VERIFY_FULL),
    ) {
        (true, true) => {
            return Err(Failure::invalid_argument(
                "IMEI_INDEX_OPEN_TRUSTED and IMEI_INDEX_OPEN_VERIFY_FULL contradict each \
                 other: pass one of them at most",
            ));
        }
        (true, false) => Verification::Trusted,
        (false, true) => Verification::Full,
        (false, false) => Verification::Checksums,
    };
    let mut o = OpenOptions::new();
    o.verification(verification)
        .populate(has(IMEI_INDEX_OPEN_POPULATE))
        .lock(has(IMEI_INDEX_OPEN_LOCK))
        .advise_random(has(IMEI_INDEX_OPEN_ADVISE_RANDOM));
    Ok(o)
}

/// Writes a new handle to `*out`, which is first set to NULL so that a failed open never
/// leaves a stale pointer there.
///
/// # Safety
///
/// `out` must be NULL or point to a writable handle pointer.
pub(crate) unsafe fn open_into<T>(
    out: *mut *mut T,
    open: impl FnOnce() -> Result<T, Failure>,
) -> imei_index_result {
    guard(|| {
        let out = input::non_null(out, "out")?;
        // SAFETY: `out` is not NULL and aligned; the caller guarantees it is writable.
        unsafe { out.write(std::ptr::null_mut()) };
        let handle = Box::into_raw(Box::new(open()?));
        // SAFETY: as above.
        unsafe { out.write(handle) };
        Ok(())
    })
}

/// Opens an index file, verifying its header and checksums (one pass over the file).
///
/// On success `*out` is a new handle, to be freed with `imei_index_close`; on failure it
/// is NULL. The file is memory-mapped; it must never be modified in place while open
/// (publish a new file and rename it over the old, as `imei-index publish` does).
///
/// Returns `IMEI_INDEX_RESULT_IO` when the file cannot be opened or mapped,
/// `IMEI_INDEX_RESULT_CORRUPT_INDEX` when it is not a valid index,
/// `IMEI_INDEX_RESULT_NULL_POINTER` when `path` or `out` is NULL.
///
/// Thread safety: safe to call from any thread.
///
/// # Safety
///
/// `path` must be NULL or a NUL-terminated string; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn imei_index_open(
    path: *const c_char,
    out: *mut *mut imei_index,
) -> imei_index_result {
    // SAFETY: the caller's guarantees are those `imei_index_open_with` needs.
    unsafe { imei_index_open_with(path, 0, out) }
}

/// Opens an index file checking its header only: the fast path for files verified when
/// they were published. The same as `imei_index_open_with(path, IMEI_INDEX_OPEN_TRUSTED,
/// out)`.
///
/// Thread safety: safe to call from any thread.
///
/// # Safety
///
/// As `imei_index_open`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn imei_index_open_trusted(
    path: *const c_char,
    out: *mut *mut imei_index,
) -> imei_index_result {
    // SAFETY: as `imei_index_open`.
    unsafe { imei_index_open_with(path, IMEI_INDEX_OPEN_TRUSTED, out) }
}

/// Opens an index file with `IMEI_INDEX_OPEN_*` flags (0 for the defaults of
/// `imei_index_open`).
///
/// Returns `IMEI_INDEX_RESULT_INVALID_ARGUMENT` for unknown or contradicting flags, and
/// otherwise as `imei_index_open`.
///
/// Thread safety: safe to call from any thread.
///
/// # Safety
///
/// As `imei_index_open`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn imei_index_open_with(
    path: *const c_char,
    flags: u32,
    out: *mut *mut imei_index,
) -> imei_index_result {
    let open = || {
        // SAFETY: the caller guarantees `path` is NULL or NUL-terminated.
        let path = unsafe { input::path(path) }?;
        Ok(imei_index {
            index: options(flags)?.open(path)?,
        })
    };
    // SAFETY: the caller guarantees `out` is NULL or writable.
    unsafe { open_into(out, open) }
}

/// Reads an index from `len` bytes at `data`, verifying its checksums.
///
/// The bytes are **copied**: the caller may free or reuse `data` as soon as this returns.
/// Returns `IMEI_INDEX_RESULT_CORRUPT_INDEX` when the bytes are not a valid index (also
/// for `len` 0), `IMEI_INDEX_RESULT_NULL_POINTER` when `data` or `out` is NULL,
/// `IMEI_INDEX_RESULT_OUT_OF_MEMORY` when the copy cannot be allocated (the host process
/// goes on: the library never aborts it on a failed allocation here).
///
/// Thread safety: safe to call from any thread.
///
/// # Safety
///
/// `data` must be NULL or point to `len` readable bytes; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn imei_index_open_bytes(
    data: *const u8,
    len: usize,
    out: *mut *mut imei_index,
) -> imei_index_result {
    let open = || {
        if data.is_null() {
            return Err(Failure::null("data"));
        }
        // SAFETY: the caller guarantees `len` readable bytes at `data`.
        let bytes = unsafe { input::bytes(data.cast(), len, "data") }?;
        // Asked for, not assumed: a failed allocation of a huge length must be an error
        // code, not an abort of the host process.
        let mut copy = Vec::new();
        copy.try_reserve_exact(bytes.len()).map_err(|e| {
            Failure::new(
                imei_index_result::OutOfMemory,
                format!(
                    "cannot allocate {} bytes to copy the index ({e}): open it from its file \
                     with imei_index_open, which maps it instead of copying it",
                    bytes.len()
                ),
            )
        })?;
        copy.extend_from_slice(bytes);
        Ok(imei_index {
            index: Index::from_bytes(Bytes::from(copy))?,
        })
    };
    // SAFETY: the caller guarantees `out` is NULL or writable.
    unsafe { open_into(out, open) }
}

/// Frees a handle and unmaps its file. NULL is fine (nothing happens).
///
/// Thread safety: call it once per handle, after every other call with the handle has
/// returned, on any thread; the handle must not be used afterwards.
///
/// # Safety
///
/// `index` must be NULL or a handle from `imei_index_open*` not yet closed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn imei_index_close(index: *mut imei_index) {
    if index.is_null() {
        return;
    }
    // Dropping an `Index` only frees memory and unmaps, which does not panic; the guard is
    // there because no panic may cross into C whatever happens.
    let _ = guard(|| {
        // SAFETY: the caller guarantees a live handle from `Box::into_raw` in `open_into`,
        // closed once.
        drop(unsafe { Box::from_raw(index) });
        Ok(())
    });
}

/// Borrows the index behind a handle.
///
/// # Safety
///
/// `index` must be NULL or a live handle, not closed while the borrow lasts.
pub(crate) unsafe fn borrow<'a>(index: *const imei_index) -> Result<&'a Index, Failure> {
    let p = input::non_null(index, "index")?;
    // SAFETY: not NULL, aligned; the caller guarantees a live handle.
    Ok(unsafe { &p.as_ref().index })
}

/// Counts, sizes and versions of an open index.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct imei_index_statistics {
    /// The file format version of the index.
    pub format_version: u32,
    /// The serial number the builder recorded (for example a publication date or counter).
    pub serial: u64,
    /// All rules.
    pub rules: u64,
    /// Rules by kind and status: `counts[rule - 1][status]` with `IMEI_INDEX_RULE_*` and
    /// `IMEI_INDEX_STATUS_*` codes, e.g. `counts[IMEI_INDEX_RULE_TAC - 1][IMEI_INDEX_STATUS_BLOCKED]`.
    pub counts: [[u64; 3]; 4],
    /// Bytes of the index.
    pub file_bytes: u64,
    /// Distinct (status, reason, date) entries that the rules share.
    pub distinct_entries: u64,
}

/// Writes the index's counts, sizes and versions to `*out`.
///
/// Thread safety: safe to call from any number of threads at once with one handle.
///
/// # Safety
///
/// `index` must be NULL or a live handle; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn imei_index_stats(
    index: *const imei_index,
    out: *mut imei_index_statistics,
) -> imei_index_result {
    guard(|| {
        let out = input::non_null(out, "out")?;
        // SAFETY: the caller guarantees a live handle or NULL.
        let stats = imei_index_statistics::of(unsafe { borrow(index) }?);
        // SAFETY: `out` is not NULL and aligned; the caller guarantees it is writable.
        unsafe { out.write(stats) };
        Ok(())
    })
}

impl imei_index_statistics {
    /// The statistics of an index.
    pub(crate) fn of(index: &Index) -> imei_index_statistics {
        let s = index.stats();
        let mut counts = [[0u64; 3]; 4];
        for kind in RuleKind::ALL {
            for status in Status::ALL {
                counts[usize::from(kind.code() - 1)][usize::from(status.s13_code())] =
                    s.counts.get(kind, status);
            }
        }
        imei_index_statistics {
            format_version: s.format_version,
            serial: s.serial,
            rules: s.rules(),
            counts,
            file_bytes: s.file_bytes,
            distinct_entries: s.distinct_entries,
        }
    }
}

/// The library's version, e.g. "0.1.0": static, NUL-terminated, never NULL.
///
/// Thread safety: safe to call from any thread.
#[unsafe(no_mangle)]
pub extern "C" fn imei_index_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// The index file format version this library reads and writes. An index of another
/// version fails to open with `IMEI_INDEX_RESULT_CORRUPT_INDEX`.
///
/// Thread safety: safe to call from any thread.
#[unsafe(no_mangle)]
pub extern "C" fn imei_index_format_version() -> u32 {
    FORMAT_VERSION
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_map_to_options() {
        assert!(options(0).is_ok());
        assert!(options(ALL_OPEN_FLAGS & !IMEI_INDEX_OPEN_VERIFY_FULL).is_ok());
        let e = options(IMEI_INDEX_OPEN_TRUSTED | IMEI_INDEX_OPEN_VERIFY_FULL).unwrap_err();
        assert_eq!(e.code, imei_index_result::InvalidArgument);
        let e = options(1 << 9).unwrap_err();
        assert!(e.message.contains("0x200"), "{}", e.message);
    }

    /// A copy of `len` bytes cannot be allocated here: overcommit is heuristic (mode 0,
    /// which refuses an allocation larger than memory and swap) or strict (2), and memory
    /// is smaller than `len`.
    fn allocation_of_fails(len: usize) -> bool {
        let mode = std::fs::read_to_string("/proc/sys/vm/overcommit_memory").unwrap_or_default();
        let mem_kib: u64 = std::fs::read_to_string("/proc/meminfo")
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(u64::MAX);
        matches!(mode.trim(), "0" | "2") && mem_kib.saturating_mul(1024) < len as u64 / 4
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_copy_too_large_for_memory_is_an_error_code_not_an_abort() {
        const LEN: usize = 1 << 40;
        if !allocation_of_fails(LEN) {
            eprintln!("skipped: this machine could allocate {LEN} bytes, or overcommits");
            return;
        }
        // 1 TiB of readable zero pages, reserved without backing (MAP_NORESERVE): the
        // caller's bytes exist, but a copy of them cannot be allocated.
        // SAFETY: an anonymous private mapping at an address the kernel chooses.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                LEN,
                libc::PROT_READ,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        assert_ne!(
            p,
            libc::MAP_FAILED,
            "cannot reserve address space for the test"
        );
        let mut out: *mut imei_index = std::ptr::null_mut();
        // SAFETY: `LEN` readable bytes at `p`; `out` is writable.
        let r = unsafe { imei_index_open_bytes(p.cast(), LEN, &mut out) };
        // SAFETY: the mapping made above, unmapped once.
        unsafe { libc::munmap(p, LEN) };
        assert_eq!(r, imei_index_result::OutOfMemory);
        assert!(out.is_null());
        let mut buf = [0u8; 512];
        // SAFETY: 512 writable bytes.
        let n = unsafe { crate::result::imei_index_last_error(buf.as_mut_ptr().cast(), buf.len()) };
        let msg = String::from_utf8_lossy(&buf[..n.min(buf.len() - 1)]).into_owned();
        assert!(msg.contains("cannot allocate 1099511627776 bytes"), "{msg}");
    }

    #[test]
    fn the_version_is_the_crate_version() {
        // SAFETY: a static NUL-terminated string.
        let v = unsafe { std::ffi::CStr::from_ptr(imei_index_version()) };
        assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    }
}
