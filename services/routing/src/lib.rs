//! Routing: what a call does next. The pure [`core`] turns the organisation's configuration
//! into a table and answers `decide(call, facts, now) -> Step`; it keeps no per-call
//! state, so the call actor asks again with new facts after each step (DESIGN.md §5).

pub mod core;
