"""Context gathering: what of an issue and its repository goes into the prompt."""
