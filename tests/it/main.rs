//! Integration tests: listeners composed through the public API.

mod adversarial;
mod capture;
mod config;
mod examples;
mod faults;
mod http;
mod ordering;
mod regression;
mod tcp;
