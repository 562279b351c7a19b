"""The front end: serves stub clients over UDP and TCP."""
