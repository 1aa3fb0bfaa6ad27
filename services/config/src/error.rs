//! Why the store refused a change. A refused change changed nothing.

use crate::resource::{Etag, Kind};

/// Errors of the configuration store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The configuration the change would produce is invalid. `field` is the path of the bad
    /// field: the written resource's fields as `employee.extension`, other entries by id as
    /// `departments["sales"].members`, the rest as in the file (`organization.timezone`).
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    /// No resource of this kind has this key.
    #[error("{kind} {key:?} does not exist")]
    NotFound { kind: Kind, key: String },
    /// A create for a key that exists.
    #[error("{kind} {key:?} already exists")]
    AlreadyExists { kind: Kind, key: String },
    /// The caller's etag is not the current one: someone changed the resource since the
    /// caller read it.
    #[error(
        "{kind} {key:?} was changed since it was read: etag {given} given, the current one is \
         {current}; read it again and reapply the change"
    )]
    Conflict {
        kind: Kind,
        key: String,
        given: Etag,
        current: Etag,
    },
    /// A delete of something other entries still refer to.
    #[error("{kind} {key:?} cannot be deleted: {by}; change that first")]
    Referenced {
        kind: Kind,
        key: String,
        /// The first reference found, e.g. `department "sales" lists it in members`.
        by: String,
    },
    /// The configuration the change would produce is too large to keep: the coordinator
    /// holds the whole organisation as one value, of at most `limit` bytes
    /// ([`crate::store::MAX_STORED_BYTES`]). Trying again does not help; making it smaller
    /// does.
    #[error(
        "the configuration would take {size} bytes stored, more than the limit of {limit} \
         bytes (the whole organisation is kept as one value in the coordinator); make it \
         smaller, e.g. with caller list prefixes (\"+4822*\") instead of single numbers"
    )]
    TooLarge { size: usize, limit: usize },
    /// The coordinator that keeps the configuration (etcd) cannot take the change now;
    /// nothing was written.
    #[error("the configuration store is unavailable: {0}; try again")]
    Unavailable(String),
    /// The configuration kept in the coordinator cannot be read by this node.
    #[error("the stored configuration is unreadable: {0}")]
    Corrupt(String),
}
