# A CPU-bound Ruby target: GpWorker#gp_mid calls GpWorker#gp_leaf, which spins; a method with a
# non-ASCII name is on the way. Runs for ARGV[0] seconds (default 30).

class GpWorker
  def gp_leaf
    x = 0
    i = 0
    while i < 200_000
      x += i % 7
      i += 1
    end
    x
  end

  def gp_ünïcode
    gp_leaf
  end

  def gp_mid
    gp_ünïcode
  end
end

finish = Time.now + (ARGV[0] || 30).to_f
worker = GpWorker.new
worker.gp_mid while Time.now < finish
