//! Publishing an index: copy beside the target, verify, flush, rename over the target.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use crate::build::atomic::AtomicFile;
use crate::error::{Error, Origin};
use crate::format::FormatError;
use crate::read::open::{OpenOptions, Verification};

/// What [`publish`] put in place, and what it replaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Published {
    /// The published index's serial.
    pub serial: u64,
    /// Its rules (for a delta index: its new and changed rules).
    pub rules: u64,
    /// Its bytes.
    pub bytes: u64,
    /// True when it is a delta index.
    pub delta: bool,
    /// The serial and rule count of the index it replaced, when the target held a readable one.
    pub replaced: Option<(u64, u64)>,
}

/// Publishes the index file `source` as `target`, so that readers of `target` (such as a
/// [`LiveIndex`](crate::LiveIndex)) see the old file or the new one, never a mix.
///
/// The source is copied to a temporary file beside the target (rename is atomic only
/// within one file system), the copy is verified completely
/// ([`Verification::Full`]: checksums, every key and value, counts), flushed to disk, and
/// renamed over the target; the directory is flushed too. A source that fails
/// verification leaves the target untouched. Full and delta indexes are both accepted.
///
/// # Errors
///
/// [`Error::Io`] when the source cannot be read or the target's directory written;
/// [`Error::Format`] (naming the source) when the source is not a valid index.
///
/// # Example
///
/// ```
/// use imei_index::{publish, Entry, Imei, IndexBuilder, Rule, Status};
///
/// let dir = tempfile::tempdir()?;
/// let staged = dir.path().join("today.imeiidx");
/// let mut b = IndexBuilder::new();
/// b.serial(20240522);
/// b.add(Rule::imei(Imei::parse("35209900176148")?, Entry::new(Status::Blocked)));
/// b.build_to_file(&staged)?;
///
/// let live = dir.path().join("current.imeiidx");
/// let p = publish(&staged, &live)?;
/// assert_eq!((p.serial, p.rules, p.replaced), (20240522, 1, None));
/// // A file that is not an index is refused, and the published one stays.
/// std::fs::write(&staged, b"not an index")?;
/// assert!(publish(&staged, &live).is_err());
/// assert_eq!(imei_index::Index::open(&live)?.serial(), 20240522);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn publish(source: impl AsRef<Path>, target: impl AsRef<Path>) -> Result<Published, Error> {
    let (source, target) = (source.as_ref(), target.as_ref());
    let mut input = File::open(source).map_err(|e| Error::io("open", source, e))?;
    let mut temp =
        AtomicFile::create(target).map_err(|e| Error::io("create a file beside", target, e))?;
    let temp_path = temp.temp_path().to_path_buf();
    let mut out = BufWriter::with_capacity(1 << 20, temp.file());
    copy(&mut input, &mut out, source, &temp_path)?;
    out.flush().map_err(|e| Error::io("write", &temp_path, e))?;
    drop(out);

    // Verify the copy, which is what readers will map; name the source in errors.
    let as_source = |e: Error| match e {
        Error::Format { source: f, .. } => Error::format(&Origin::File(source.to_path_buf()), f),
        other => other,
    };
    let open = |delta| {
        OpenOptions::new()
            .verification(Verification::Full)
            .delta(delta)
            .open(&temp_path)
    };
    let (index, delta) = match open(false) {
        Ok(index) => (index, false),
        Err(e) if e.as_format() == Some(&FormatError::IsDelta) => {
            (open(true).map_err(as_source)?, true)
        }
        Err(e) => return Err(as_source(e)),
    };
    let stats = index.stats();
    drop(index);
    // The header says what is being replaced; no need to read the rest.
    let replaced = OpenOptions::new()
        .verification(Verification::Trusted)
        .open(target)
        .ok()
        .map(|old| (old.serial(), old.stats().rules()));
    temp.commit().map_err(|e| Error::io("replace", target, e))?;
    Ok(Published {
        serial: stats.serial,
        rules: stats.rules(),
        bytes: stats.file_bytes,
        delta,
        replaced,
    })
}

fn copy(input: &mut File, out: &mut impl Write, source: &Path, temp: &Path) -> Result<(), Error> {
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = match io::Read::read(input, &mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io("read", source, e)),
        };
        out.write_all(&buf[..n])
            .map_err(|e| Error::io("write", temp, e))?;
    }
}
