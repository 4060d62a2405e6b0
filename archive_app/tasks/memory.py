"""Memory tasks: summarise and embed."""
