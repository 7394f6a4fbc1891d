/*!
A sightings journal for Equipment Identity Registers on [`imei_index`]: which SIMs and
numbers were seen with which handsets, and when.

India's register does not only block handsets: "as soon as any SIM is used with a lost or
stolen handset, automated traceability is generated" and the police are told, and the
re-verification of two million connections needed the same data. An EIR is where those
sightings happen (every attach brings the IMEI, the IMSI and often the MSISDN), and the
tracked (grey) status exists precisely to let a handset on while recording it.

* [`Journal`] records [`Sighting`]s from any number of threads without ever waiting: a
  bounded queue in front of a writer thread that appends to one CSV file per process and
  UTC day, created private (0600), deleted after the retention, with IMSIs and MSISDNs
  kept as they are or keyed-hashed ([`pseudonym`]). A [`Policy`] chooses what is kept:
  blocked and tracked handsets (the default), or every check.
* The first sighting in a day of a blocked or tracked handset with a SIM not seen with it
  that day is an [`Alert`]: marked in the file and passed to a hook
  ([`JournalOptions::on_alert`]).
* [`JournalReader`] reads the files back; [`DirbsExport`] turns them into the distinct
  `date,imei,imsi,msisdn` triplets that DIRBS takes from operators. `imei-index scan` reads
  journal files as they are.

The core crate gains nothing from this one: an EIR that only checks links none of it.

# Example

```
use imei_index::{Entry, Imei, Imsi, IndexBuilder, Index, Rule, Status};
use imei_index_trace::{Journal, JournalOptions, JournalReader, Sighting};

let mut builder = IndexBuilder::new();
let stolen = Imei::parse("354178036859789")?;
builder.add(Rule::imei(stolen, Entry::new(Status::Blocked)));
let (bytes, _) = builder.build_to_vec()?;
let index = Index::from_bytes(bytes.into())?;

let dir = tempfile::tempdir()?;
let alerts = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
let seen = std::sync::Arc::clone(&alerts);
let journal = Journal::open(
    dir.path(),
    JournalOptions::new().on_alert(move |a| seen.lock().unwrap().push(a.imei)),
)?;

// On every check: answer, then record (the record never waits).
let sim = Imsi::parse("404685505601234")?;
let verdict = index.check_with_imsi(stolen, &sim);
journal.record(&Sighting::new(stolen, verdict).with_imsi(sim));
journal.record(&Sighting::new(stolen, verdict).with_imsi(sim));
journal.close()?;

assert_eq!(*alerts.lock().unwrap(), [stolen]); // once: the same SIM again is no news
let file = std::fs::read_dir(dir.path())?.next().unwrap()?.path();
let rows: Vec<_> = JournalReader::new("j", std::io::BufReader::new(std::fs::File::open(file)?))?
    .collect::<Result<_, _>>()?;
assert_eq!(rows.len(), 2);
assert!(rows[0].alert && !rows[1].alert);
# Ok::<(), Box<dyn std::error::Error>>(())
```
*/

#![deny(missing_docs)]
#![warn(unreachable_pub)]

mod alert;
mod alerts;
mod export;
mod format;
mod journal;
mod read;
mod sighting;
mod time;

pub use crate::alert::Alert;
pub use crate::export::{DIRBS_HEADER, DirbsExport, Triplet};
pub use crate::format::{ALERT_NEW_SIM, HEADER, HEADER_HASHED, pseudonym};
pub use crate::journal::{Journal, JournalError, JournalOptions, JournalStats, Recorded};
pub use crate::read::{JournalReader, JournalRow, RowError};
pub use crate::sighting::{Msisdn, MsisdnError, Policy, Sighting};

/// Whether a file name is a journal file's (`sightings-YYYYMMDD-….csv`), and its UTC day
/// (days since 1970-01-01).
pub fn journal_file_day(name: &str) -> Option<u32> {
    format::day_of_file(name)
}
