//! Curator's protected ephemeral-sequential nodes (TODO, issue 6).
