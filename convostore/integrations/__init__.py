"""Integrations of ConvoStore into other gateways (each imports only convostore.client and its host)."""
