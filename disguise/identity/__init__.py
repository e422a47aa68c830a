"""Who is this? Recognisers (is the edited face still the person?), the learned identity model
and its verification, the attribute judge, and matching a sighting against suspects."""
