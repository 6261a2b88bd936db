//! The rotation function's handler: placeholder, filled below.
