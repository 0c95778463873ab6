"""What every view of the native API shares, whichever app's objects it serves.

It lives in the project package because it maps both apps' errors to one shape, and accounts
must not depend on tracking.
"""
