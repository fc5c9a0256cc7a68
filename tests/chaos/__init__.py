"""The chaos suite: real deployments under repeated faults, judged by what the target received."""
