"""Who is this? Recognisers (is the edited face still the person?), the learned identity model
and its verification, and matching a sighting against suspects."""
