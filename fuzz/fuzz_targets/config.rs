//! The config loader on arbitrary bytes: split into up to three unit files
//! at 0xFF bytes (never in UTF-8), loaded together. It must not panic; an
//! error must render and name only spans inside its sources; an accepted
//! config must have a start level for every service.
#![no_main]

use libfuzzer_sys::fuzz_target;
use svinit::config::load_sources;
use svinit::graph::Graph;

fuzz_target!(|data: &[u8]| {
    let sources: Vec<(String, String)> = data
        .split(|&b| b == 0xFF)
        .take(3)
        .enumerate()
        .map(|(i, part)| {
            (
                format!("f{i}.kdl"),
                String::from_utf8_lossy(part).into_owned(),
            )
        })
        .collect();
    match load_sources(sources) {
        Err(error) => {
            assert!(!error.problems().is_empty());
            let _ = error.render(false);
        }
        Ok(config) => {
            for service in &config.services {
                for name in service.requires.iter().chain(&service.wants) {
                    assert!(config.service(name).is_some(), "unknown dependency {name}");
                }
            }
            let graph = Graph::new(&config);
            let placed: usize = graph.start_levels().iter().map(Vec::len).sum();
            assert_eq!(placed, config.services.len());
        }
    }
});
