//! What the scheduler follows from the rest of the contact center: how many agents of each
//! target are free (presence), and the targets' working hours (configuration). Both are
//! `watch` channels: a new leader reads their current value, and every change reaches the
//! core at once.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use tokio::sync::watch;

use crate::core::{AlwaysOpen, Hours, Openness, Target, Timestamp};

/// Free agents per target now: for a department, its members able to take a call; for an
/// employee, 1 when available and 0 when busy, paused, on do-not-disturb or logged out.
/// A target missing from the map has nobody free. The scheduler dispatches at most this
/// many callbacks of a target, minus the attempts it is dialling for it already (an agent
/// reserved for one of those may or may not be counted free yet: counting it twice never
/// dials more callbacks than there are agents, at worst a little later).
pub type Capacity = BTreeMap<Target, u32>;

/// Working hours as the scheduler shares them between the core and whoever replaces them.
pub type SharedHours = Arc<dyn Hours + Sync>;

/// Hours that never change: [`AlwaysOpen`] for tests, or one configuration's
/// [`ConfigHours`](crate::hours::ConfigHours) (a department's `schedule`, an employee's
/// do-not-disturb); a node following configuration changes sends new ones through the
/// channel.
pub fn fixed_hours(hours: impl Hours + Sync + 'static) -> watch::Receiver<SharedHours> {
    let shared: SharedHours = Arc::new(hours);
    watch::channel(shared).1
}

/// [`fixed_hours`] of [`AlwaysOpen`].
pub fn always_open() -> watch::Receiver<SharedHours> {
    fixed_hours(AlwaysOpen)
}

/// The hours a core asks: whatever the channel holds when it asks. The scheduler tells the
/// core when they change (`handle_hours_changed`).
pub(crate) struct Followed(pub(crate) watch::Receiver<SharedHours>);

impl fmt::Debug for Followed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Followed(..)")
    }
}

impl Hours for Followed {
    fn openness(&self, target: &Target, at: Timestamp) -> Openness {
        // Cloned out so that the channel's lock is not held while the hours compute.
        let hours = self.0.borrow().clone();
        hours.openness(target, at)
    }
}
