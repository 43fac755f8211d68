module running-sum

go 1.27

require sluice v0.0.0
