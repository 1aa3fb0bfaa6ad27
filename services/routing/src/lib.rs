//! Routing: what a call does next. The pure [`core`] turns the organisation's configuration
//! into a table and answers `decide(call, facts, now) -> Step`; it keeps no per-call
//! state, so the call actor asks again with new facts after each step (DESIGN.md §5).
//! `cc.routing.internal.v1.Routing` serves it over gRPC ([`api`]), at the time its
//! [`clock::Clock`] gives (a test can fix it).

pub mod api;
pub mod clock;
mod convert;
pub mod core;
