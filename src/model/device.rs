//! GSMA's TAC database as an index holds it, and the policy for IMEIs it does not vouch for.

use std::collections::BTreeMap;
use std::fmt;

use crate::model::ident::Tac;
use crate::model::rule::{Date, PolicyReason, Status};

/// What the TAC database says about one Type Allocation Code: who makes the model and what
/// it is, as [`Index::device`](crate::Index::device) reads it from the index.
///
/// Fields the database leaves empty are empty strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Device<'a> {
    /// The TAC.
    pub tac: Tac,
    /// The manufacturer, as GSMA registered it (`Samsung Korea`).
    pub manufacturer: &'a str,
    /// The brand (`Samsung`); empty in exports without a brand column.
    pub brand: &'a str,
    /// The model: the marketing name when the database has one (`Galaxy S23`), else the
    /// model name.
    pub model: &'a str,
    /// The device type (`Smartphone`, `Modem`, `IoT Device`…).
    pub device_type: &'a str,
    /// The day GSMA allocated the TAC, when the database says.
    pub allocated: Option<Date>,
}

/// One TAC's row, owned: what a [`TacTable`] holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct DeviceInfo {
    /// The manufacturer.
    pub manufacturer: String,
    /// The brand, or empty.
    pub brand: String,
    /// The model (marketing name, else model name).
    pub model: String,
    /// The device type, or empty.
    pub device_type: String,
    /// The allocation date, if known.
    pub allocated: Option<Date>,
}

/// A TAC database to store in an index ([`IndexBuilder::tac_db`](crate::IndexBuilder::tac_db)):
/// one [`DeviceInfo`] per TAC.
///
/// Read one from GSMA's file with [`list::tacdb`](crate::list::tacdb), or fill it by hand.
/// A TAC inserted twice keeps its first row; the later ones are counted
/// ([`TacTable::duplicates`]), so that every row read is accounted for.
///
/// # Example
///
/// ```
/// use imei_index::{DeviceInfo, Tac, TacTable};
///
/// let mut t = TacTable::new();
/// let phone = DeviceInfo { manufacturer: "Acme".into(), model: "Roadrunner".into(), ..Default::default() };
/// assert!(t.insert(Tac::parse("35209900")?, phone.clone()));
/// assert!(!t.insert(Tac::parse("35209900")?, DeviceInfo::default()));
/// assert_eq!((t.len(), t.duplicates()), (1, 1));
/// assert_eq!(t.get(Tac::parse("35209900")?), Some(&phone));
/// # Ok::<(), imei_index::IdError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TacTable {
    rows: BTreeMap<u32, DeviceInfo>,
    duplicates: u64,
}

impl TacTable {
    /// An empty table.
    pub fn new() -> TacTable {
        TacTable::default()
    }

    /// Adds a TAC's row; `false` (and the row counted as a duplicate, not stored) when the
    /// table already has the TAC.
    pub fn insert(&mut self, tac: Tac, info: DeviceInfo) -> bool {
        match self.rows.entry(tac.as_u32()) {
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert(info);
                true
            }
            std::collections::btree_map::Entry::Occupied(_) => {
                self.duplicates += 1;
                false
            }
        }
    }

    /// The row of a TAC.
    pub fn get(&self, tac: Tac) -> Option<&DeviceInfo> {
        self.rows.get(&tac.as_u32())
    }

    /// TACs in the table.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True when the table has no TAC.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Rows given for a TAC the table already had (not stored).
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// The rows in TAC order.
    pub fn iter(&self) -> impl Iterator<Item = (Tac, &DeviceInfo)> + '_ {
        self.rows
            .iter()
            .filter_map(|(&t, d)| Tac::from_u32(t).ok().map(|t| (t, d)))
    }
}

/// What checks answer when no rule applies to a handset and the TAC database does not
/// vouch for its TAC (docs/semantics.md, "GSMA's TAC database"). Off unless asked for,
/// through [`OpenOptions::tac_policy`](crate::OpenOptions::tac_policy).
///
/// # Example
///
/// ```
/// use imei_index::{Status, TacPolicy};
///
/// let p = TacPolicy::new(Status::Tracked).allocated_after("2026-01-01".parse()?);
/// assert_eq!(p.status(), Status::Tracked);
/// assert_eq!(p.to_string(), "tracked for TACs not in the TAC database or allocated after 2026-01-01");
/// # Ok::<(), imei_index::FieldError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TacPolicy {
    status: Status,
    allocated_after: Option<Date>,
}

impl TacPolicy {
    /// Answer `status` for an IMEI whose TAC the database does not list (and no rule
    /// applies to).
    pub fn new(status: Status) -> TacPolicy {
        TacPolicy {
            status,
            allocated_after: None,
        }
    }

    /// Answer the same for an IMEI whose TAC was allocated after `date` (the day after it
    /// or later).
    pub fn allocated_after(self, date: Date) -> TacPolicy {
        TacPolicy {
            allocated_after: Some(date),
            ..self
        }
    }

    /// The status the policy answers.
    pub fn status(&self) -> Status {
        self.status
    }

    /// The date after which an allocation is caught, if any.
    pub fn allocated_after_date(&self) -> Option<Date> {
        self.allocated_after
    }

    /// Why the policy catches a TAC that the database lists as `listed` (`None`: not
    /// listed), or `None` when it does not.
    #[inline]
    pub(crate) fn catches(&self, listed: Option<Option<Date>>) -> Option<PolicyReason> {
        match listed {
            None => Some(PolicyReason::NotInDatabase),
            Some(Some(allocated)) if self.allocated_after.is_some_and(|d| allocated > d) => {
                Some(PolicyReason::AllocatedAfter)
            }
            Some(_) => None,
        }
    }
}

impl fmt::Display for TacPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} for TACs not in the TAC database", self.status)?;
        if let Some(d) = self.allocated_after {
            write!(f, " or allocated after {d}")?;
        }
        Ok(())
    }
}
