//! ACD (automatic call distribution) for the contact center: one queue per department,
//! waiting calls ordered by priority and enqueue time, agents chosen by the department's
//! strategy and offered as a [`core::RingPlan`].
//!
//! Only the pure [`core`] lives here so far: state + input + `now` -> outputs and the next
//! deadline. The service (actor per department queue, gRPC, presence reservations) wraps it.

pub mod core;
