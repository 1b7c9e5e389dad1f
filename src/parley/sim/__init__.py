"""Discrete-event contact-center simulator driving the real ACD and dialer on a virtual clock."""
