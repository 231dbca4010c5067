# hidden_states stage: rules are added by its issue.
