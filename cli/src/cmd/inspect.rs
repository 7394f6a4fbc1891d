//! `imei-index stats` and `imei-index verify`: what an index holds, and whether it is whole.

use std::path::Path;

use imei_index::{ErrorChain, FormatError, OpenOptions, RuleKind, Status, Verification};

use super::{CliResult, Failure, Outcome, bytes, count, open_index};

pub(crate) fn stats(path: &Path) -> CliResult {
    let index = open_index(path, Verification::Checksums)?;
    let s = index.stats();
    println!("index {}", path.display());
    println!("  format version {}, serial {}", s.format_version, s.serial);
    let per_rule = s
        .bytes_per_rule()
        .map_or(String::new(), |b| format!(", {b:.2} bytes per rule"));
    println!(
        "  {} rules in {}{per_rule}",
        count(s.rules()),
        bytes(s.file_bytes)
    );
    println!(
        "  {:<8} {:>12} {:>12} {:>12} {:>12}",
        "rules", "blocked", "tracked", "allowed", "all"
    );
    for kind in RuleKind::ALL {
        println!(
            "  {:<8} {:>12} {:>12} {:>12} {:>12}",
            kind.as_str(),
            count(s.counts.get(kind, Status::Blocked)),
            count(s.counts.get(kind, Status::Tracked)),
            count(s.counts.get(kind, Status::Allowed)),
            count(s.counts.of_kind(kind)),
        );
    }
    println!(
        "  {:<8} {:>12} {:>12} {:>12} {:>12}",
        "all",
        count(s.counts.of_status(Status::Blocked)),
        count(s.counts.of_status(Status::Tracked)),
        count(s.counts.of_status(Status::Allowed)),
        count(s.rules()),
    );
    let sections: Vec<String> = s
        .section_bytes
        .iter()
        .map(|(sec, n)| format!("{sec} {}", bytes(*n)))
        .collect();
    println!("  sections: {}", sections.join(", "));
    println!(
        "  distinct (status, reason, date) entries: {}",
        count(s.distinct_entries)
    );
    if let Some(m) = s.imei_blocks {
        let tacs = m.packed.0 + m.bitmap.0;
        println!(
            "  IMEI blocks: {} TACs, {} packed ({} rules), {} bitmaps ({} rules); {} share one \
             entry, {} with a value table",
            count(tacs),
            count(m.packed.0),
            count(m.packed.1),
            count(m.bitmap.0),
            count(m.bitmap.1),
            count(m.shared_value),
            count(m.value_table),
        );
    }
    if let Some((tacs, n)) = s.tac_db {
        println!(
            "  TAC database: {} TACs in {}, {:.1} bytes per TAC",
            count(tacs),
            bytes(n),
            n as f64 / tacs.max(1) as f64
        );
    }
    println!(
        "  {:<32} {:>8} {:<20} {:<16} {:>12}",
        "sources", "run", "built (UTC)", "content hash", "rules"
    );
    for source in &s.sources {
        println!(
            "  {:<32} {:>8} {:<20} {:<16} {:>12}",
            source.name.as_str(),
            source.run_id.map_or("-".to_string(), |r| r.to_string()),
            built(source.built),
            source.hash.map_or("-".to_string(), |h| format!("{h:016x}")),
            count(source.rules()),
        );
    }
    Ok(Outcome::Success)
}

/// A build time: `YYYY-MM-DD HH:MM:SS` in UTC, `-` when unknown.
fn built(unix: i64) -> String {
    if unix == 0 {
        return "-".to_string();
    }
    let secs = unix.rem_euclid(86_400);
    format!(
        "{} {:02}:{:02}:{:02}",
        imei_index::Date::at_unix_seconds(unix),
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Verifies an index completely. A file that is an index of this format but damaged is
/// what verify exists to find: invalid input (exit 1). A file it cannot verify at all (a
/// missing or unreadable path, a directory or device, an empty file, a file without the
/// magic, another format version, a delta index) means it could not run (exit 2).
pub(crate) fn verify(path: &Path) -> CliResult {
    let opened = OpenOptions::new()
        .verification(Verification::Full)
        .open(path);
    match opened {
        Ok(index) => {
            println!(
                "{}: ok: header, checksums and all {} rules verified",
                path.display(),
                count(index.stats().rules())
            );
            Ok(Outcome::Success)
        }
        Err(e) if e.as_format().is_some_and(FormatError::is_corrupt) => {
            eprintln!("imei-index: error: {}", ErrorChain(&e));
            Ok(Outcome::Invalid)
        }
        Err(e) => Err(Failure::from(e)),
    }
}
