"""The embedded demo: SFTP server, Visma simulator, a generated Stampli export, two cycles."""
