//! civicmap: a city's street reports, participatory-budget projects and
//! district statistics, served from an in-memory spatial index kept in step
//! with a durable store.
//!
//! The pure core (`model`, `districts`, `geocode`, `spatial`, `tiles`, `limits`) does no IO and
//! knows nothing of HTTP or SQL; `store` is the only module with SQL and
//! `http` the only one with axum. See ARCHITECTURE.md.

pub mod auth;
pub mod boot;
pub mod config;
pub mod districts;
pub mod export;
pub mod generate;
pub mod geocode;
pub mod http;
pub mod limits;
pub mod model;
pub mod open311;
pub mod photos;
pub mod reference;
pub mod service;
pub mod spatial;
pub mod stats;
pub mod store;
pub mod tiles;
