"""Quality analytics: agreement, truth inference, labeler accuracy, guideline gaps and gates."""
