"""The server: process-wide services and the HTTP routes of the st.App."""
