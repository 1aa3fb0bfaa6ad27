//! Reporting: call events from sip-edge, routing, queue, presence and callback become call
//! records in a store, and the store answers the per-scenario report, the
//! contact-center KPIs and the call list.
//!
//! - [`core`]: the event model and the pure aggregation (what every number means);
//! - [`store`]: the [`store::ReportStore`] trait and its SQLite and PostgreSQL stores
//!   (idempotent batch ingest, the report computed in SQL);
//! - [`testing`]: a temporary PostgreSQL server for tests;
//! - [`v1`]: today's public event stream (cc.events.v1) mapped into the event model;
//! - [`node`]: the reporting node: follows every node's events into the store and
//!   serves `cc.reporting.v1.Reporting`;
//! - [`synth`]: synthetic call traffic for benches and load tests.

pub mod core;
pub mod node;
pub mod store;
pub mod synth;
pub mod testing;
pub mod v1;
